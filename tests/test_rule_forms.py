"""Which SLI queries the rule generator counts with ``increase()`` (see docs/engines.md)."""

from __future__ import annotations

import pytest

from parapet_cli.generators.slo_rules import as_increase


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("sum(rate(x[{{window}}]))", "sum(increase(x[{{window}}]))"),
        (
            'sum by (route) (rate(x{code=~"5.."}[{{window}}])) + sum by (route) (rate(y[{{window}}]))',
            'sum by (route) (increase(x{code=~"5.."}[{{window}}])) + sum by (route) (increase(y[{{window}}]))',
        ),
        ("sum(rate (x[{{window}}]))", "sum(increase (x[{{window}}]))"),
        # an irate cannot be counted
        ("sum(irate(x[{{window}}]))", None),
        # a rate over a fixed range stays a per-second rate: swapping it would change its meaning
        ("sum(rate(x[{{window}}])) / sum(rate(y[5m]))", None),
        # "rate(" inside a label value is not a call
        ('sum(rate(x{path="/rate(1)"}[{{window}}]))', None),
        # already counted: the caller divides by the window itself
        ("sum(increase(x[{{window}}]))", None),
        # recording-rule names that end in rate are not calls
        ("sum(job:requests:rate5m_total[{{window}}])", None),
    ],
)
def test_as_increase(template: str, expected: str | None) -> None:
    assert as_increase(template) == expected
