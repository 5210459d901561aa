"""The UI's Jinja2 environment: the host's ejected copies first, the packaged templates after.

``parapet install --with ui --eject`` copies the packaged templates into the host's ``templates/parapet/``;
a template found there wins over the packaged one of the same name, and any template the host did not
copy still comes from the package. Autoescape is on for every template and undefined names fail loudly.

    host_templates_dir(templates_dir, spec_path)   the explicit directory, else ``templates/parapet/``
                                                   beside the spec when it exists, else None
    environment(host_dir)                          the Environment (ChoiceLoader: host, then package)
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined

from parapet.errors import OptionError

EJECT_DIR: Final = Path("templates") / "parapet"


def host_templates_dir(templates_dir: str | Path | None, spec_path: str | Path | None) -> Path | None:
    if templates_dir is not None:
        path = Path(templates_dir)
        if not path.is_dir():
            raise OptionError(
                f"the templates directory {path} does not exist",
                hint="run `{eject}` to copy the templates there, or drop the option",
                options=("eject",),
            )
        return path
    if spec_path is not None:
        beside = Path(spec_path).parent / EJECT_DIR
        if beside.is_dir():
            return beside
    return None


def environment(host_dir: Path | None = None) -> Environment:
    loaders: list[FileSystemLoader | PackageLoader] = []
    if host_dir is not None:
        loaders.append(FileSystemLoader(str(host_dir)))
    loaders.append(PackageLoader("parapet.web", "templates"))
    return Environment(
        loader=ChoiceLoader(loaders),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
