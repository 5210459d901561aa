"""The YAML emitter reads back exactly what it was given, whatever the strings hold."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from parapet_cli.yamlout import dump

text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x85\u2028\u2029\ufeff"), max_size=40
)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400)
@given(st.dictionaries(text, values, max_size=6))
def test_round_trip(data: dict[str, object]) -> None:
    assert yaml.safe_load(dump(data).decode("utf-8")) == (data or None)


def test_readable_choices() -> None:
    out = dump({"expr": 'sum(rate(x{code=~"5.."}[5m]))', "multi": "a\nor\nb", "v": "yes", "n": "12"}).decode()
    assert out == 'expr: sum(rate(x{code=~"5.."}[5m]))\nmulti: |-\n  a\n  or\n  b\nv: "yes"\nn: "12"\n'
