from parapet_cli.cli import main

main()
