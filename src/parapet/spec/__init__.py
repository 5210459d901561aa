"""Load a spec: ``parapet/v1``, Sloth ``prometheus/v1`` or OpenSLO ``openslo/v1``, sniffed from the file.

load_spec(path) -> Spec     # raises SpecError with file:line:col, field and hint
"""

from __future__ import annotations

from pathlib import Path

from parapet.errors import Location, SpecError
from parapet.spec.model import SLI, SLO, Alerting, AlertTier, SLIKind, Spec
from parapet.spec.preview import describe, preview
from parapet.spec.source import SourceDocument, load_documents

FORMATS = ("parapet/v1", "prometheus/v1", "openslo/v1")


def sniff(doc: SourceDocument) -> str | None:
    """The document's ``version`` (or ``apiVersion``); a value that is not text is refused here, before
    anything turns it into text (an alias of a nested anchor would expand to millions of items)."""
    data = doc.data
    if not isinstance(data, dict):
        return None
    for key in ("version", "apiVersion"):
        if key in data:
            value = data[key]
            if not isinstance(value, str):
                raise doc.error(
                    (key,),
                    f"{key} must be a string, got {describe(value)}",
                    f"write {key}: parapet/v1 (or the format's own)",
                )
            return value
    return None


def load_spec(path: Path | str, text: str | None = None) -> Spec:
    """Read and validate a spec in any supported format."""
    path = Path(path)
    docs = [d for d in load_documents(path, text) if d.data is not None]
    if not docs:
        raise SpecError("the spec is empty", location=Location(path, 1, 1), hint="start with version: parapet/v1")
    first = docs[0]
    if not isinstance(first.data, dict):
        raise first.error((), "the spec must be a mapping", "start with version: parapet/v1")
    kind = sniff(first)
    if kind is None:
        raise first.error(
            (),
            "cannot tell the spec's format: no version or apiVersion",
            "add version: parapet/v1 (or use a Sloth prometheus/v1 or OpenSLO openslo/v1 file)",
        )
    if kind == "parapet/v1":
        _single(docs, kind)
        from parapet.spec.build import build_v1
        from parapet.spec.v1 import UNION_TAGS, SpecV1
        from parapet.spec.validate import validate

        # top-level keys starting with x- hold YAML anchors to reuse (as in Compose files); they are ignored
        data = {k: v for k, v in first.data.items() if not (isinstance(k, str) and k.startswith("x-"))}
        return build_v1(first, validate(SpecV1, first, data, tags=UNION_TAGS))
    if kind == "prometheus/v1":
        _single(docs, kind)
        from parapet.spec.sloth import build_sloth

        return build_sloth(first)
    if kind.startswith("openslo/"):
        from parapet.spec.openslo import build_openslo

        return build_openslo(docs)
    key = "version" if "version" in first.data else "apiVersion"
    raise first.error(
        (key,),
        f"unsupported format {preview(kind)}",
        f"use one of {', '.join(FORMATS)}",
    )


def _single(docs: list[SourceDocument], kind: str) -> None:
    if len(docs) > 1:
        raise docs[1].error((), f"a {kind} file holds one document", "split the file, or remove the '---' separator")


__all__ = ["SLI", "SLO", "AlertTier", "Alerting", "SLIKind", "Spec", "SpecError", "load_spec"]
