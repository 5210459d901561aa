"""Hostile and odd specs: alias bombs, bytes that are not UTF-8, files that are not files, huge scalars,
deep nesting and every odd type YAML has. A spec is refused with one ``SpecError`` (a ``ParapetError``),
never a traceback, in bounded time and memory; its messages quote a bounded preview of what they got."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from parapet.errors import ParapetError, SpecError
from parapet.spec import load_spec
from tests.conftest import ROOT

EVENTS = "{events: {error_query: 'sum(rate(e[{{window}}]))', total_query: 'sum(rate(t[{{window}}]))'}}"
HEAD = 'version: parapet/v1\nservice: shop\nalerting: {runbook_url: "https://runbooks.example.com/{slo}"}\n'


def refuse(tmp_path: Path, text: str | bytes) -> SpecError:
    path = tmp_path / "parapet.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return info.value


def laughs(depth: int = 9, width: int = 9) -> str:
    """Anchors that nest ``depth`` levels, ``width`` aliases each: width**depth items once expanded."""
    lines = [f"x-a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"x-a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, depth)]
    return "\n".join(lines) + "\n"


# -- the billion laughs: refused at once, with a bounded message ----------------------------------------

_MEASURE = textwrap.dedent(
    """
    import json, sys, time, tracemalloc
    from parapet.errors import SpecError
    from parapet.spec import load_spec
    tracemalloc.start()
    started = time.perf_counter()
    try:
        load_spec(sys.argv[1])
        outcome = "loaded"
    except SpecError as exc:
        outcome = exc.render() + " | " + (exc.hint or "")
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    print(json.dumps({"outcome": outcome, "seconds": seconds, "peak": peak}))
    """
)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("description: *a8", "slos[0].description: description must be a string, got a list"),
        ("labels: *a8", "slos[0].labels: labels must be a mapping, got a list"),
        ("labels: {team: *a8}", "slos[0].labels.team: team must be a string, got a list"),
        ("group_by: *a8", "slos[0].group_by[0]: must be a string, got a list"),
    ],
)
def test_billion_laughs_is_refused_at_once_in_little_memory(tmp_path: Path, field: str, message: str) -> None:
    """Nine levels of nine aliases (9**9 = 387 million items expanded): once 260 s and 11 GB, because the
    error message repr()ed the expanded value. Measured in a fresh interpreter, the load alone."""
    spec = tmp_path / "parapet.yaml"
    spec.write_text(HEAD + laughs() + f"slos:\n  - name: a\n    objective: 99\n    {field}\n    sli: {EVENTS}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    run = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(spec)], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert message in result["outcome"], result
    assert len(result["outcome"]) < 400, "the message quotes a preview, not the value"
    assert result["peak"] < 100 * 1024 * 1024, f"peak {result['peak'] / 1e6:.1f} MB"
    # the target is well under a second (benchmarks/ has no timing of its own for this); 20 s only
    # tells a hang from a slow machine
    assert result["seconds"] < 20, result


def test_huge_scalar_is_quoted_as_a_preview(tmp_path: Path) -> None:
    huge = "x" * 5_000_000
    exc = refuse(
        tmp_path, HEAD + f"defaults: {{source: {huge}}}\nslos:\n  - name: a\n    objective: 99\n    sli: {EVENTS}\n"
    )
    assert "unknown source 'xxxx" in exc.message and "(5000000 characters)" in exc.message
    assert len(exc.render()) < 400


# -- odd files --------------------------------------------------------------------------------------------


def test_non_utf8_spec_names_line_and_column(tmp_path: Path) -> None:
    exc = refuse(tmp_path, b"version: parapet/v1\nservice: caf\xe9\n")
    assert exc.location.line == 2 and exc.location.column == 13, exc.location
    assert "not UTF-8" in exc.message and "0xe9" in exc.message
    assert exc.hint is not None and "UTF-8" in exc.hint and "permission" not in exc.hint


def test_a_fifo_or_directory_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(SpecError, match="not a regular file"):
        load_spec(fifo)  # opening a FIFO for reading would block until a writer came
    with pytest.raises(SpecError, match="is a directory"):
        load_spec(tmp_path)


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "parapet.yaml"
    with path.open("wb") as handle:
        handle.truncate(17 * 1024 * 1024)
    with pytest.raises(SpecError, match="larger than 16 MiB"):
        load_spec(path)


def test_unreadable_spec_says_permission(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    path = tmp_path / "parapet.yaml"
    path.write_text(HEAD)
    path.chmod(0)
    with pytest.raises(SpecError, match="permission denied") as info:
        load_spec(path)
    assert info.value.hint is not None and "permissions" in info.value.hint


# -- messages that name the right thing ---------------------------------------------------------------


def test_did_you_mean_never_suggests_the_key_it_refused(tmp_path: Path) -> None:
    """``filter`` belongs to packs: on a plain SLO it is refused, and not suggested back."""
    exc = refuse(tmp_path, HEAD + f"slos:\n  - name: a\n    objective: 99\n    filter: 'x=\"y\"'\n    sli: {EVENTS}\n")
    assert exc.message == "unknown key 'filter'"
    assert exc.hint is not None and "did you mean" not in exc.hint
    assert "filter" not in exc.hint and "sli" in exc.hint, exc.hint
    typo = refuse(tmp_path, HEAD + "slos:\n  - pack: web\n    filterr: 'x=\"y\"'\n")
    assert typo.hint is not None and typo.hint.startswith("did you mean 'filter'?")


def test_list_items_are_named_by_index(tmp_path: Path) -> None:
    exc = refuse(tmp_path, HEAD + "slos:\n  - pack: web\n    routes: [{a: b}]\n")
    assert exc.render().endswith("slos[0].routes[0]: must be a string, got a mapping"), exc.render()


def test_a_plain_union_member_is_not_named_as_a_key(tmp_path: Path) -> None:
    exc = refuse(tmp_path, HEAD.replace("}\n", ", absent: {forr: 1m}}\n") + "slos:\n  - pack: web\n")
    assert exc.location.field == "alerting.absent.forr"
    assert exc.message.startswith("unknown key 'forr'") and exc.hint is not None
    assert exc.hint.startswith("did you mean 'for'?")


# -- fuzz -------------------------------------------------------------------------------------------------

SKELETONS = {
    "parapet/v1": {
        "version": "parapet/v1",
        "service": "shop",
        "alerting": {"runbook_url": "https://r/{slo}", "page": {"for": "2m"}},
        "labels": {"team": "core"},
        "slos": [
            {"pack": "web", "routes": ["/a"]},
            {"name": "jobs", "objective": 99, "sli": {"job": {"task": "t"}}, "group_by": []},
        ],
        "retention": {"incidents": "90d"},
        "doctor": {"ignore": [{"rule": "PAR101", "reason": "r"}]},
    },
    "prometheus/v1": {
        "version": "prometheus/v1",
        "service": "s",
        "slos": [
            {
                "name": "a",
                "objective": 99.9,
                "sli": {
                    "events": {"error_query": "sum(rate(e[{{.window}}]))", "total_query": "sum(rate(t[{{.window}}]))"}
                },
                "alerting": {"annotations": {"runbook_url": "https://r"}, "page_alert": {"labels": {"x": "y"}}},
            }
        ],
    },
    "openslo/v1": {
        "apiVersion": "openslo/v1",
        "kind": "SLO",
        "metadata": {"name": "a"},
        "spec": {
            "service": "s",
            "budgetingMethod": "Occurrences",
            "timeWindow": [{"duration": "28d", "isRolling": True}],
            "objectives": [{"target": 0.99}],
            "indicator": {
                "metadata": {"name": "i"},
                "spec": {
                    "ratioMetric": {
                        "counter": True,
                        "bad": {"metricSource": {"type": "Prometheus", "spec": {"query": "sum(rate(e[{{window}}]))"}}},
                        "total": {
                            "metricSource": {"type": "Prometheus", "spec": {"query": "sum(rate(t[{{window}}]))"}}
                        },
                    }
                },
            },
        },
    },
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["5xx", "{{window}}", "{{", "}}", "99.9", "30d", "0d", "1h30m", "__name__", "x" * 100_000]),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=12), st.integers()), inner, max_size=4)
    ),
    max_leaves=20,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[path[0]] = _replace(copy[path[0]], path[1:], value)  # type: ignore[call-overload,index]
    return copy


RAW_SCALARS = (
    "1" * 5000,  # Python refuses to read an int of more than 4,300 digits
    "0x" + "f" * 5000,
    "2024-13-45",
    "2024-02-30 25:61:00",
    ".inf",
    "-.nan",
    "!!binary 'not base64'",
    "!!python/object/apply:os.system ['true']",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "~",
    "*undefined",
    "&a [*a]",
    "{? [a]: b}",
)


@st.composite
def specs(draw: st.DrawFn) -> str:
    """A spec of one of the three formats with one value replaced: by an odd value, a huge one, a deep
    nesting, or an alias of an anchor that nests (an alias bomb in miniature, or in full)."""
    skeleton = SKELETONS[draw(st.sampled_from(sorted(SKELETONS)))]
    path = draw(st.sampled_from(_paths(skeleton)[1:]))
    how = draw(st.sampled_from(["value", "deep", "alias", "raw"]))
    if how == "value":
        return yaml.safe_dump(_replace(skeleton, path, draw(values)), sort_keys=False)
    marker = "PARAPET_FUZZ_MARKER"
    text = yaml.safe_dump(_replace(skeleton, path, marker), sort_keys=False)
    if how == "raw":  # scalars YAML itself reads as something else, or cannot read
        return text.replace(marker, draw(st.sampled_from(RAW_SCALARS)))
    if how == "deep":
        depth = draw(st.integers(min_value=1, max_value=1000))
        return text.replace(marker, "[" * depth + "]" * depth)
    depth = draw(st.integers(min_value=1, max_value=9))
    width = draw(st.integers(min_value=1, max_value=9))
    bomb = laughs(depth, width).replace("x-a", "x-b").replace("&a", "&b").replace("*a", "*b")
    # x- keys hold anchors in parapet/v1 (ignored there, unknown keys elsewhere): put them first
    return bomb + text.replace(marker, f"*b{depth - 1}")


@settings(
    max_examples=int(os.environ.get("PARAPET_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(text=specs())
@example(text=yaml.safe_dump({**SKELETONS["openslo/v1"], "kind": []}, sort_keys=False))  # found by this test
@example(text=yaml.safe_dump({**SKELETONS["openslo/v1"], "apiVersion": {"a": 1}}, sort_keys=False))
def test_fuzz_spec_loader(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "spec.yaml"
    path.write_text(text)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        load_spec(path)
    except ParapetError as exc:
        assert isinstance(exc, SpecError), type(exc)
        assert len(exc.render()) < 2000, exc.render()[:300]
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    seconds = time.perf_counter() - started
    assert peak < 100 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"
    assert seconds < 20, f"{seconds:.1f} s"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_fuzz_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "spec.yaml"
    path.write_bytes(HEAD.encode() + data)
    try:
        load_spec(path)
    except ParapetError as exc:
        assert isinstance(exc, SpecError)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1" * 5000, "YAML cannot read this int value: too many digits"),
        ("2024-13-45", "YAML cannot read this timestamp value: 'month must be in 1..12'"),
        ("0x" + "f" * 5000, "service must be a string, got int an integer of 5000 hex digits"),
    ],
)
def test_scalars_python_cannot_read_or_print(tmp_path: Path, value: str, message: str) -> None:
    """An integer of 5,000 digits (Python refuses to convert more than 4,300) or an impossible date was a
    traceback; now an error at the value."""
    exc = refuse(tmp_path, f"version: parapet/v1\nservice: {value}\n")
    assert message in exc.message, exc.message
    assert (exc.location.line, exc.location.column) == (2, 10)
