"""``parapet.errors`` draws every Parapet exception class with its exit code, and the drawing is the real tree:
every module of ``parapet`` and ``parapet_cli`` is imported, then ``ParapetError``'s subclasses are walked."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import parapet
import parapet.errors
import parapet_cli
from parapet.errors import ParapetError, UserError

NAME_WIDTH = 44
EXIT_WIDTH = 9


def import_everything() -> None:
    for package in (parapet, parapet_cli):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if module.name.rpartition(".")[2] != "__main__":
                importlib.import_module(module.name)


def _line(cls: type[BaseException], lead: str) -> str:
    others = [b.__name__ for b in cls.__bases__ if not issubclass(b, ParapetError) and b is not Exception]
    name = lead + cls.__name__ + (f" (also {', '.join(others)})" if others else "")
    code = f"exit {cls.exit_code}" if issubclass(cls, UserError) else "-"
    return f"{name:<{NAME_WIDTH}}{code:<{EXIT_WIDTH}}{cls.__module__}".rstrip()


def draw(cls: type[BaseException] = ParapetError, prefix: str = "", lead: str = "") -> list[str]:
    lines = [_line(cls, prefix + lead)]
    children = sorted(cls.__subclasses__(), key=lambda c: c.__name__)
    below = prefix + ("" if not lead else "    " if lead.startswith("└") else "│   ")
    for i, child in enumerate(children):
        last = i == len(children) - 1
        lines += draw(child, below, "└── " if last else "├── ")
    return lines


def drawing() -> str:
    import_everything()
    return "\n".join("    " + line for line in draw())


def test_the_drawing_is_the_real_tree() -> None:
    tree = drawing()
    assert tree in (parapet.errors.__doc__ or ""), (
        "parapet/errors.py's docstring must draw every Parapet exception: run python -m tests.cli.test_errors_tree "
        "(it redraws the tree in place), or paste this:\n\n" + tree
    )


def redraw(path: Path = Path(parapet.errors.__file__)) -> None:
    """Replace the tree in ``parapet/errors.py``'s docstring (from ``    ParapetError`` to the blank line after)."""
    text = path.read_text(encoding="utf-8")
    start = text.index("    ParapetError ")
    end = text.index("\n\n", start)
    path.write_text(text[:start] + drawing() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    redraw()
