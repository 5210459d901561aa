"""Behaviour of the generated SLO rules, evaluated by two real engines: Prometheus and VictoriaMetrics.

Each test writes a ``parapet.yaml``, generates its rules with ``parapet_cli.generators.slo_rules``,
has the engine load them (``promtool check rules --lint=all --lint-fatal``, ``vmalert -dryRun``), and
evaluates them over input series that describe a scenario: an outage, a steady trickle of errors, a
burst, quiet traffic. Every test runs once per engine (``tests/engines.py``): ``promtool test rules``,
and ``vmalert -replay`` over the same samples imported into a private ``victoria-metrics``. The
expectations are the same on both unless a test says why they cannot be.

Conventions of the input series below: one sample a minute from t=0. ``counter([...])`` takes the
number of requests *per minute*; the i-th entry is the increase between the samples at minute i and
i+1, so requests "in minute m" show at eval time m+1. The SLO is 99.9% (error budget 0.001) unless a
test says otherwise, so the page thresholds are 14.4 x 0.001 = 0.0144 (5m and 1h) and 6 x 0.001 =
0.006 (30m and 6h), the ticket thresholds 3 x 0.001 = 0.003 (2h and 1d) and 1 x 0.001 (6h and 3d).
The page tier has ``for: 2m`` and the ticket tier ``for: 15m`` by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from parapet.spec import load_spec
from parapet_cli.generators.slo_rules import generate
from tests.engines import Engine, Promtool, victoriametrics

pytestmark = pytest.mark.promtool


@pytest.fixture(params=["prometheus", "victoriametrics"])
def engine(request: pytest.FixtureRequest, promtool: str) -> Engine:
    """Each behaviour test runs on Prometheus (promtool) and on VictoriaMetrics (vmalert -replay)."""
    if request.param == "prometheus":
        return Promtool(promtool)
    return victoriametrics()


ALERT = "ShopAvailabilityErrorBudgetBurn"
IDS = 'service="shop", slo="availability"'
ERRORS = 'sum(rate(http_requests_total{code=~"5.."}[{{window}}]))'
TOTAL = "sum(rate(http_requests_total[{{window}}]))"
RUNBOOK = "https://runbooks.example/shop/availability"


# ------------------------------------------------------------------------------------------ inputs


def counter(per_minute: Sequence[int]) -> str:
    """promtool ``values`` of a counter that starts at 0 and grows by ``per_minute[i]`` in minute i.

    Runs of equal increments become one ``a+bxn`` segment (n+1 samples a, a+b, ..., a+n*b).
    """
    parts = ["0"]
    value = 0
    i = 0
    while i < len(per_minute):
        step = per_minute[i]
        run = 1
        while i + run < len(per_minute) and per_minute[i + run] == step:
            run += 1
        parts.append(f"{value + step}+{step}x{run - 1}")
        value += step * run
        i += run
    return " ".join(parts)


def minutes(count: int, per_minute: int) -> list[int]:
    return [per_minute] * count


def http(ok: Sequence[int], failed: Sequence[int] | None) -> list[dict[str, str]]:
    """Input series of http_requests_total: ``ok`` answered 200, ``failed`` 500 (None: no 5xx series at all)."""
    series = [{"series": 'http_requests_total{code="200", job="shop"}', "values": counter(ok)}]
    if failed is not None:
        assert len(failed) == len(ok)
        series.append({"series": 'http_requests_total{code="500", job="shop"}', "values": counter(failed)})
    return series


# ------------------------------------------------------------------------------------------- specs


def availability(**overrides: Any) -> dict[str, Any]:
    """The SLO under test: 99.9% of http_requests_total answered without a 5xx."""
    slo: dict[str, Any] = {
        "name": "availability",
        "objective": 99.9,
        "sli": {"events": {"error_query": ERRORS, "total_query": TOTAL}},
        "alerting": {"runbook_url": RUNBOOK},
    }
    slo.update(overrides)
    return slo


def write_rules(directory: Path, engine: Engine, *slos: dict[str, Any]) -> str:
    """Write parapet.yaml, generate its rules into ``directory``, have the engine load them; return the file's name."""
    directory.mkdir(parents=True, exist_ok=True)
    spec_path = directory / "parapet.yaml"
    spec_path.write_text(
        yaml.safe_dump({"version": "parapet/v1", "service": "shop", "slos": list(slos)}, sort_keys=False),
        encoding="utf-8",
    )
    planned = [f for f in generate(load_spec(spec_path), "parapet.yaml") if f.path.endswith(".rules.yml")]
    assert len(planned) == 1, [f.path for f in planned]
    rules = directory / planned[0].path
    rules.write_bytes(planned[0].content)
    engine.check(directory, rules.name)
    return rules.name


# ---------------------------------------------------------------------------------------- expectations


def at(minute: int) -> str:
    return f"{minute}m"


def alerts(minute: int, *severities: str, state: str = "firing", name: str = ALERT, ids: str = IDS) -> dict[str, Any]:
    """ALERTS of ``name`` in ``state`` at ``minute``: exactly one per listed severity (none if no severity)."""
    return {
        "expr": f'ALERTS{{alertname="{name}", alertstate="{state}"}}',
        "eval_time": at(minute),
        "exp_samples": [
            {
                "labels": f'ALERTS{{alertname="{name}", alertstate="{state}", {ids}, severity="{s}"}}',
                "value": 1,
            }
            for s in severities
        ],
    }


def silent(minute: int, name: str = ALERT) -> dict[str, Any]:
    """No alert of ``name`` at ``minute``, neither firing nor pending."""
    return {"expr": f'ALERTS{{alertname="{name}"}}', "eval_time": at(minute), "exp_samples": []}


def value(expr: str, minute: int, expected: float, labels: str = f"{{{IDS}}}") -> dict[str, Any]:
    """``expr`` at ``minute`` is exactly one sample: ``labels`` (default: the SLO's, no metric name), ``expected``."""
    return {"expr": expr, "eval_time": at(minute), "exp_samples": [{"labels": labels, "value": expected}]}


def recorded(metric: str, minute: int, expected: float, ids: str = IDS) -> dict[str, Any]:
    """The recorded series ``metric`` of the SLO reads ``expected`` at ``minute``."""
    return value(f"{metric}{{{ids}}}", minute, expected, labels=f"{metric}{{{ids}}}")


PAGE_ANNOTATIONS = {
    "summary": "shop availability: error budget is burning fast",
    "description": (
        "SLO availability of shop (99.9% over 30d) is burning its error budget faster than 14.4x over 1h "
        "and 5m or 6x over 6h and 30m. At 14.4x the whole budget is gone in 2d2h."
    ),
    "runbook_url": RUNBOOK,
}


# ----------------------------------------------------------------------------- 1. total outage pages


def test_total_outage_pages_within_five_minutes(engine: Engine, tmp_path: Path) -> None:
    rules = write_rules(tmp_path, engine, availability())
    # 3 h of clean traffic (1000 requests a minute), then from minute 180 every request fails.
    outage = 180
    ok = minutes(outage, 1000) + minutes(30, 0)
    failed = minutes(outage, 0) + minutes(30, 1000)
    engine.run(
        tmp_path,
        [rules],
        [
            {
                "name": "total outage",
                "interval": "1m",
                "input_series": http(ok, failed),
                # Before the outage nothing is firing or even pending.
                "promql_expr_test": [
                    silent(outage - 1),
                    silent(outage),
                    # One minute in: 1000 failures among the 60 000 requests of the last hour is a 1h ratio
                    # of 1/60 = 0.0167 > 0.0144, and the 5m ratio is 0.2: the page is pending. So is the ticket,
                    # through its 6h/3d pair: the 6h ratio is 1000/181 000 = 0.0055 and the 3d ratio (an average
                    # of 5m rates over the 3 h of history, where the new errors weigh in one 5m sample) 0.2/181 =
                    # 0.0011, both > 0.001 ...
                    alerts(outage + 1, "page", "ticket", state="pending"),
                    value(f"round(parapet_slo:error_ratio:rate5m{{{IDS}}} * 100)", outage + 1, 20),
                ],
                # ... and after for: 2m it fires, well within 5 minutes, with exact labels and annotations.
                # The ticket (for: 15m) is still pending, so only the page is listed.
                "alert_rule_test": [
                    {"eval_time": at(outage), "alertname": ALERT, "exp_alerts": []},
                    {
                        "eval_time": at(outage + 5),
                        "alertname": ALERT,
                        "exp_alerts": [
                            {
                                "exp_labels": {"service": "shop", "slo": "availability", "severity": "page"},
                                "exp_annotations": PAGE_ANNOTATIONS,
                            }
                        ],
                    },
                ],
            }
        ],
    )


# ------------------------------------------------------------------- 2. a steady 0.5x burn is quiet


@pytest.mark.slow
def test_half_the_budget_rate_stays_quiet_for_three_days(engine: Engine, tmp_path: Path) -> None:
    rules = write_rules(tmp_path, engine, availability())
    # 2000 requests a minute, 1 of them failing: 0.05% errors = burn rate 0.5 on a 99.9% SLO, for 3 days.
    span = 3 * 24 * 60
    checkpoints = [60, 6 * 60, 24 * 60, 36 * 60, 48 * 60, span]
    tests: dict[str, Any] = {
        "name": "0.05% errors for 3 days",
        "interval": "1m",
        "input_series": http(minutes(span, 1999), minutes(span, 1)),
        "alert_rule_test": [{"eval_time": at(t), "alertname": ALERT, "exp_alerts": []} for t in checkpoints],
        "promql_expr_test": [silent(t) for t in checkpoints],
    }
    # Every burn rate reads 0.5, from 5 minutes up to the 30-day period (which holds 3 days of data). Only
    # the 5m and the period burn rates are recorded; the others are the window's ratio / the budget.
    for window in ("rate5m", "period"):
        tests["promql_expr_test"].append(value(f"round(parapet_slo:burn_rate:{window}{{{IDS}}} * 100)", span, 50))
    for window in ("rate1h", "rate6h", "rate1d", "rate3d"):
        burn = f"parapet_slo:error_ratio:{window}{{{IDS}}} / 0.001"
        tests["promql_expr_test"].append(value(f"round({burn} * 100)", span, 50))
    tests["promql_expr_test"].append(
        value(f"round(parapet_slo:error_ratio:rate1h{{{IDS}}} / 0.001 * 100)", 24 * 60, 50)
    )
    # The period's ratio is half the budget, so the budget left reads 1 - 0.5 (a ratio, as in Sloth: it is not
    # scaled by the share of the 30 days that has data).
    tests["promql_expr_test"].append(value(f"round(parapet_slo:error_budget_remaining:ratio{{{IDS}}} * 100)", span, 50))
    engine.run(tmp_path, [rules], [tests])


# ------------------------------------------------------------- 3. quiet traffic without errors: 0, not NaN


ZERO_WINDOWS = ("rate5m", "rate30m", "rate1h", "rate2h", "rate6h", "rate1d", "rate3d", "period")


@pytest.mark.parametrize("error_series", [True, False], ids=["zero-5xx-series", "no-5xx-series"])
def test_clean_low_traffic_is_quiet_and_reads_zero(engine: Engine, tmp_path: Path, error_series: bool) -> None:
    rules = write_rules(tmp_path, engine, availability())
    # 30 requests a minute for 7 h, none failing; with or without a (flat) 5xx series to read from.
    span = 7 * 60
    # One recorded sample per evaluation from t = 1m (at t = 0 rate() has a single input sample and yields
    # nothing) to t = 7h: 420 samples, all in the closed [420m] range.
    samples = span
    expr_tests: list[dict[str, Any]] = [silent(t) for t in (5, 60, 6 * 60, span)]
    for window in ZERO_WINDOWS:
        ratio = f"parapet_slo:error_ratio:{window}{{{IDS}}}"
        expr_tests.append(recorded(f"parapet_slo:error_ratio:{window}", span, 0))
        # The series exists at every evaluation, and the sum of all its samples is exactly 0: a single NaN
        # (x / 0) anywhere would make the sum NaN.
        expr_tests.append(value(f"count_over_time({ratio}[{span}m])", span, samples))
        expr_tests.append(value(f"sum_over_time({ratio}[{span}m])", span, 0))
    expr_tests.append(recorded("parapet_slo:error_budget_remaining:ratio", span, 1))
    engine.run(
        tmp_path,
        [rules],
        [
            {
                "name": "30 requests a minute, no errors",
                "interval": "1m",
                "input_series": http(minutes(span, 30), minutes(span, 0) if error_series else None),
                "alert_rule_test": [{"eval_time": at(span), "alertname": ALERT, "exp_alerts": []}],
                "promql_expr_test": expr_tests,
            }
        ],
    )


def test_no_traffic_at_all_reads_zero_not_nan(engine: Engine, tmp_path: Path) -> None:
    rules = write_rules(tmp_path, engine, availability())
    # An hour of traffic, then 3 h without a single request: every rate is 0, so every ratio is 0 / 0.
    span = 4 * 60
    ok = minutes(60, 30) + minutes(span - 60, 0)
    expr_tests: list[dict[str, Any]] = [silent(span)]
    for window in ("rate5m", "rate30m", "rate1h", "rate2h"):
        expr_tests.append(recorded(f"parapet_slo:error_ratio:{window}", span, 0))
        expr_tests.append(recorded(f"parapet_slo:events:{window}", span, 0))
        expr_tests.append(value(f"sum_over_time(parapet_slo:error_ratio:{window}{{{IDS}}}[{span}m])", span, 0))
    engine.run(
        tmp_path,
        [rules],
        [
            {
                "name": "no traffic",
                "interval": "1m",
                "input_series": http(ok, minutes(span, 0)),
                "promql_expr_test": expr_tests,
            }
        ],
    )


# --------------------------------------------------------- 4. uneven traffic: ratio of sums, not Sloth's mean

# Sloth's rules for the same SLI (examples/_gen/getting-started.yml, shape kept): the 5m error ratio, and the
# "optimized" period ratio, a mean of the 5m ratios over the period.
SLOTH_IDS = 'sloth_id="shop-availability", sloth_service="shop", sloth_slo="availability"'
SLOTH_RULES = {
    "groups": [
        {
            "name": "sloth-slo-sli-recordings-shop-availability",
            "rules": [
                {
                    "record": "slo:sli_error:ratio_rate5m",
                    "expr": f"({ERRORS.replace('{{window}}', '5m')})\n/\n({TOTAL.replace('{{window}}', '5m')})",
                    "labels": {
                        "sloth_id": "shop-availability",
                        "sloth_service": "shop",
                        "sloth_slo": "availability",
                        "sloth_window": "5m",
                    },
                },
                {
                    "record": "slo:sli_error:ratio_rate30d",
                    "expr": (
                        f"sum_over_time(slo:sli_error:ratio_rate5m{{{SLOTH_IDS}}}[30d])\n"
                        f"/ ignoring (sloth_window)\n"
                        f"count_over_time(slo:sli_error:ratio_rate5m{{{SLOTH_IDS}}}[30d])"
                    ),
                    "labels": {
                        "sloth_id": "shop-availability",
                        "sloth_service": "shop",
                        "sloth_slo": "availability",
                        "sloth_window": "30d",
                    },
                },
            ],
        }
    ]
}


def test_period_ratio_is_a_ratio_of_sums_under_uneven_traffic(engine: Engine, tmp_path: Path) -> None:
    rules = write_rules(tmp_path, engine, availability())
    (tmp_path / "sloth.rules.yml").write_text(yaml.safe_dump(SLOTH_RULES, sort_keys=False), encoding="utf-8")
    engine.check(tmp_path, "sloth.rules.yml", lint=False)
    # 1 h busy and clean (1000 requests a minute, no errors), then 1 h quiet (10 a minute) at 50% errors.
    # True error ratio over the 2 h: 300 failures / (60 000 + 600) requests = 0.00495.
    ok = minutes(60, 1000) + minutes(60, 5)
    failed = minutes(60, 0) + minutes(60, 5)
    true_ratio = 300 / 60600
    end = 120
    parapet = f"parapet_slo:error_ratio:period{{{IDS}}}"
    sloth = f"slo:sli_error:ratio_rate30d{{{SLOTH_IDS}}}"
    engine.run(
        tmp_path,
        [rules, "sloth.rules.yml"],
        [
            {
                "name": "busy clean hour, then a quiet hour at 50% errors",
                "interval": "1m",
                "input_series": http(ok, failed),
                "promql_expr_test": [
                    # Parapet: within 3% of the true ratio of sums, on both engines (measured: 0.00495 on both,
                    # 0.00479 before the current 5m rate stood in for the last minutes' partly counted events).
                    value(f"abs({parapet} - {true_ratio}) / {true_ratio} < bool 0.03", end, 1),
                    # Sloth: the quiet hour's 5m ratios (0.5 each) weigh as much as the busy hour's (0 each),
                    # so the mean is near 0.25, off by far more than 20x.
                    value(f"{sloth} / {true_ratio} > bool 20", end, 1, labels=f'{{{SLOTH_IDS}, sloth_window="30d"}}'),
                    value(f"scalar({sloth}) / scalar({parapet}) > bool 20", end, 1, labels="{}"),
                    # Bounds with margins around the measured values (Parapet 0.00495, Sloth 0.234).
                    value(f"round({parapet} * 1000)", end, 5),
                    value(f"round({sloth} * 10)", end, 2, labels=f'{{{SLOTH_IDS}, sloth_window="30d"}}'),
                ],
            }
        ],
    )


# --------------------------------------------------- 5. a 20-minute burst: page, then ticket, then quiet


@pytest.mark.slow
def test_burst_pages_then_tickets_then_clears(engine: Engine, tmp_path: Path) -> None:
    rules = write_rules(tmp_path, engine, availability())
    # 2 h of clean traffic (1000 requests a minute), a 20-minute total outage from minute 120 to 140, then
    # 7 h of clean traffic again.
    start, end = 120, 140
    span = end + 7 * 60
    ok = minutes(start, 1000) + minutes(end - start, 0) + minutes(span - end, 1000)
    failed = minutes(start, 0) + minutes(end - start, 1000) + minutes(span - end, 0)
    # Page: one minute into the outage the 5m ratio is 0.2 and the 1h ratio 1/60 = 0.0167 > 0.0144, so the
    # page is pending at start+1 and fires at start+3 (for: 2m). After the outage the 5m/1h pair stops at
    # end+5 (5m window clean), but the 30m/6h pair holds: the 30m ratio (outage minutes in the window / 30)
    # stays over 0.006 as long as one minute of the outage is in the 30m window (until end+29), and the 6h
    # ratio is 20 outage minutes / at most 360 = 0.056 > 0.006. So the page clears at end+30: firing at
    # end+25, cleared at end+35 (measured: firing from start+3, cleared from end+30).
    # Ticket: pending from start+1 through the 6h/3d pair (6h ratio 1000/121 000 = 0.0083; 3d ratio, an
    # average of 5m rates over 2 h of history, 0.2/121 = 0.0017: both > 0.001), firing from start+16
    # (for: 15m). The 2h/1d pair holds until the outage
    # leaves the 2h window (end+120), the 6h/3d pair until it leaves the 6h window (end+360): the 3d ratio
    # (20 outage minutes in at most 9 h of history: >= 0.037 > 0.001) never lets go before that.
    # Workbook: the reset time of a pair is about its short window. (Measured: cleared from end+360.)
    tests = {
        "name": "20-minute outage on steady traffic",
        "interval": "1m",
        "input_series": http(ok, failed),
        "promql_expr_test": [
            silent(start - 1),
            alerts(start + 1, "page", "ticket", state="pending"),
            alerts(start + 5, "page"),  # page firing, ticket still pending
            alerts(start + 5, "ticket", state="pending"),
            alerts(start + 19, "page", "ticket"),  # during the outage: both fire
            alerts(end + 25, "page", "ticket"),  # the 30m/6h pair still holds the page
            alerts(end + 35, "ticket"),  # the page has cleared, the ticket keeps firing
            alerts(end + 35, state="pending"),  # and nothing is merely pending
            alerts(end + 130, "ticket"),  # past the 2h/1d pair: held by the 6h/3d pair
            alerts(end + 6 * 60 - 10, "ticket"),  # still firing just under 6 h after the outage
            silent(end + 6 * 60 + 10),  # and cleared after it
            silent(span),
            # The outage spent 20 000 of the period's requests: the period ratio is 20 000 / 560 000.
            value(f"round(parapet_slo:error_ratio:period{{{IDS}}} * 1000)", span, round(20000 / 560000 * 1000)),
        ],
    }
    engine.run(tmp_path, [rules], [tests])


# ---------------------------------------------------------------- 5b. a slow 2x burn: a ticket, never a page


@pytest.mark.slow
def test_slow_2x_burn_opens_a_ticket_and_never_pages(engine: Engine, tmp_path: Path) -> None:
    rules = write_rules(tmp_path, engine, availability())
    # 2 h of clean traffic (1000 requests a minute), then 8 h at 0.2% errors (998 good, 2 bad a minute):
    # burn rate 2. Below every page factor (14.4, 6) and the 2h/1d ticket factor (3), above the 6h/3d one
    # (1). Both of its windows still hold the clean 2 h: their ratio is 2m / (1000 (120 + m)) after m
    # minutes of burn, over 0.001 once m > 120; pending from about start+121, firing 15 minutes later
    # (for: 15m). The 3d window counts from the 5m rates recorded so far (no "since" series: that is what
    # vmalert's replay could not see, and the ticket never fired there).
    start, burn = 120, 8 * 60
    span = start + burn
    ok = minutes(start, 1000) + minutes(burn, 998)
    failed = minutes(start, 0) + minutes(burn, 2)
    tests = {
        "name": "2x burn for 8 hours",
        "interval": "1m",
        "input_series": http(ok, failed),
        "promql_expr_test": [
            silent(start + 60),
            silent(start + 110),
            alerts(start + 150, "ticket"),
            *(alerts(t, "ticket") for t in (start + 240, start + 360, span)),
            # never a page, not even pending, at any minute of the 10 hours
            {
                "expr": f'count_over_time(ALERTS{{alertname="{ALERT}", severity="page"}}[{span}m])',
                "eval_time": at(span),
                "exp_samples": [],
            },
            *(alerts(t, state="pending") for t in (start + 150, start + 360, span)),
            value(f"round(parapet_slo:burn_rate:rate5m{{{IDS}}} * 10)", span, 20),
            value(f"round(parapet_slo:error_ratio:rate3d{{{IDS}}} / 0.001 * 10)", span, round(2 * burn / span * 10)),
        ],
    }
    engine.run(tmp_path, [rules], [tests])


# ------------------------------------------------------------------------------ 6. low-traffic guard


def low_traffic(span: int, failing_minute: int, young: bool = False) -> list[dict[str, str]]:
    """One request every 10 minutes; the one of ``failing_minute`` fails.

    ``young``: the 5xx series only appears with that failure, at 1, as a client library's labelled
    counter does when it is first incremented (no sample at 0 before it).
    """
    requests = [1 if (m + 1) % 10 == 0 else 0 for m in range(span)]
    assert requests[failing_minute] == 1
    ok = list(requests)
    ok[failing_minute] = 0
    failed = [0] * span
    failed[failing_minute] = 1
    series = http(ok, failed)
    if young:
        # samples from failing_minute + 1 on, all 1: promtool's "_" is a missing sample
        series[1]["values"] = f"_x{failing_minute + 1} 1x{span - failing_minute - 1}"
    return series


@pytest.mark.parametrize(
    ("min_events", "pages", "young"),
    [(None, False, False), (0, True, False), (None, False, True)],
    ids=["automatic-min-events-keeps-quiet", "min-events-0-pages", "young-5xx-series-keeps-quiet"],
)
def test_one_error_among_few_requests(
    engine: Engine, tmp_path: Path, min_events: int | None, pages: bool, young: bool
) -> None:
    alerting: dict[str, Any] = {"runbook_url": RUNBOOK}
    if min_events is not None:
        alerting["min_events"] = min_events
    rules = write_rules(tmp_path, engine, availability(alerting=alerting))
    # 4 h of one request every 10 minutes (6 an hour); the request of minute 179 fails, visible at 180.
    # Without a guard that single failure is a 5m ratio of 1 and a 1h ratio of 1/6, far over 0.0144, and a
    # 30m ratio of 1/3 with a 6h ratio of 1/18 over 0.006. The automatic guard asks the long window to hold
    # at least ceil(1/0.0144) = 70 events (1h) and ceil(1/0.006) = 167 events (6h) before paging, so one
    # bad event alone cannot page: here the hour holds 6 and the 6 hours at most 24.
    span, failure = 240, 180
    if pages:
        # The 30m/6h pair holds from 180 to about 209: firing from 182 (for: 2m); the ticket (2h ratio 1/12
        # over 0.003) only starts firing at 195 (for: 15m).
        expected = [alerts(failure + 10, "page"), alerts(failure + 25, "page", "ticket")]
    else:
        expected = [silent(t) for t in (failure, failure + 1, failure + 4, failure + 10, failure + 25, span)]
    if not young:
        # Both guard settings see the same error ratios: only the guard differs.
        ratios = [
            recorded("parapet_slo:error_ratio:rate5m", failure + 1, 1),
            value(f"round(parapet_slo:error_ratio:rate30m{{{IDS}}} * 3)", failure + 10, 1),
        ]
    elif engine.name == "prometheus":
        # A series first seen at 1 has no earlier sample to increase from: Prometheus' increase() does not
        # count its first value, so the single failure is not an error at all there ...
        ratios = [recorded("parapet_slo:errors:rate5m", failure + 1, 0)]
    else:
        # ... while VictoriaMetrics' increase() takes a new counter to have started at 0 and counts it:
        # one error, exactly (its rate() would have counted 3.6 over 6h: 1 over the 100 minutes covered).
        ratios = [
            recorded("parapet_slo:error_ratio:rate5m", failure + 1, 1),
            value(
                f"round(parapet_slo:error_ratio:rate6h{{{IDS}}} * parapet_slo:events:rate6h{{{IDS}}} * 21600 * 1000)",
                failure + 10,
                1000,
            ),
        ]
    engine.run(
        tmp_path,
        [rules],
        [
            {
                "name": "one failure among 6 requests an hour",
                "interval": "1m",
                "input_series": low_traffic(span, failure - 1, young),
                "promql_expr_test": [silent(failure - 1), *ratios, *expected],
            }
        ],
    )


def test_low_traffic_outage_still_pages(engine: Engine, tmp_path: Path) -> None:
    rules = write_rules(tmp_path, engine, availability())
    # One request every 10 minutes (6 an hour) for 3 h, then every request fails. The long windows never
    # hold the 70 (1h) or 167 (6h) events the ratio alone needs, but the guard lets a pair fire once the
    # long window holds min_errors = 3 bad events: the failures of minutes 189, 199 and 209 are visible at
    # 210, the 30m/6h pair (30m ratio 1, 6h ratio 3/21 > 0.006) is active from then, firing 2 minutes later.
    span, outage = 300, 180
    requests = [1 if (m + 1) % 10 == 0 else 0 for m in range(span)]
    ok = [r if m < outage else 0 for m, r in enumerate(requests)]
    failed = [r if m >= outage else 0 for m, r in enumerate(requests)]
    engine.run(
        tmp_path,
        [rules],
        [
            {
                "name": "6 requests an hour, all failing from minute 180",
                "interval": "1m",
                "input_series": http(ok, failed),
                "promql_expr_test": [
                    silent(outage),
                    silent(outage + 15),  # two failures are not enough
                    alerts(outage + 35, "page"),  # the ticket (2h/1d pair, for: 15m) is still pending
                    alerts(span, "page", "ticket"),
                ],
            }
        ],
    )


FRESHNESS_ALERT = "ShopNightlyFreshErrorBudgetBurn"
FRESHNESS_IDS = 'service="shop", slo="nightly-fresh"'


def last_success(per_minute: Sequence[int]) -> str:
    """promtool ``values`` of a gauge: the i-th sample is ``per_minute[i]``, runs compressed to ``axn``."""
    parts: list[str] = []
    i = 0
    while i < len(per_minute):
        run = 1
        while i + run < len(per_minute) and per_minute[i + run] == per_minute[i]:
            run += 1
        parts.append(f"{per_minute[i]}x{run - 1}")
        i += run
    return " ".join(parts)


def test_freshness_fires_when_the_job_stops_succeeding(engine: Engine, tmp_path: Path) -> None:
    rules = write_rules(
        tmp_path,
        engine,
        {
            "name": "nightly-fresh",
            "objective": 99,
            "sli": {"freshness": {"task": "nightly", "max_age": "1h"}},
            "alerting": {"runbook_url": RUNBOOK},
        },
    )
    series = 'parapet_job_last_success_timestamp_seconds{job="shop", task="nightly"}'
    span = 5 * 60

    def succeeding_every_20m(until: int) -> list[int]:
        """The timestamp (seconds) of the last success at each minute: a success every 20 min, none after ``until``."""
        return [min(m, until) // 20 * 20 * 60 for m in range(span + 1)]

    # Each evaluation is a time slice, bad while the last success is older than 1 h. With objective 99 the
    # budget is 0.01, so the page needs 14.4 x 0.01 = 0.144 of the last hour bad (and the current 5m slice).
    # Stopped case: last success at minute 180, so slices are bad from minute 241 (age > 3600 s); the 1h
    # share of bad slices passes 0.144 after 9 bad minutes (9/61), so the page is pending at ~249 and fires
    # at ~251 (for: 2m).
    stop = 180
    engine.run(
        tmp_path,
        [rules],
        [
            {
                "name": "the job keeps succeeding",
                "interval": "1m",
                "input_series": [{"series": series, "values": last_success(succeeding_every_20m(span))}],
                "promql_expr_test": [
                    *(silent(t, FRESHNESS_ALERT) for t in (30, 120, 240, span)),
                    value(
                        f"sum_over_time(parapet_slo:errors:rate5m{{{FRESHNESS_IDS}}}[{span}m])",
                        span,
                        0,
                        labels=f"{{{FRESHNESS_IDS}}}",
                    ),
                ],
            },
            {
                "name": "the job stops succeeding",
                "interval": "1m",
                "input_series": [{"series": series, "values": last_success(succeeding_every_20m(stop))}],
                "promql_expr_test": [
                    silent(stop + 60, FRESHNESS_ALERT),  # age exactly 1 h: still fresh
                    recorded("parapet_slo:errors:rate5m", stop + 61, 1, ids=FRESHNESS_IDS),
                    # Page firing from ~251; the ticket (1 x 0.01 over 6h and 3d: 3 bad slices of the 4 h of
                    # history) is pending from ~243 and fires from ~258 (for: 15m).
                    alerts(stop + 75, "page", name=FRESHNESS_ALERT, ids=FRESHNESS_IDS),
                    alerts(stop + 75, "ticket", state="pending", name=FRESHNESS_ALERT, ids=FRESHNESS_IDS),
                    alerts(stop + 90, "page", "ticket", name=FRESHNESS_ALERT, ids=FRESHNESS_IDS),
                ],
            },
        ],
    )


# ------------------------------------------------------------------------- 7. 28-day and 7-day periods


def period_slos() -> list[dict[str, Any]]:
    return [
        availability(name=f"availability-{period}", period=period, alerting={"runbook_url": RUNBOOK})
        for period in ("30d", "28d", "7d")
    ]


def period_alerts(minute: int, *periods: str) -> dict[str, Any]:
    """Exactly the page alerts of the listed periods' SLOs fire at ``minute``."""
    return {
        "expr": 'ALERTS{alertstate="firing", severity="page"}',
        "eval_time": at(minute),
        "exp_samples": [
            {
                "labels": (
                    f'ALERTS{{alertname="ShopAvailability{p}ErrorBudgetBurn", alertstate="firing", '
                    f'service="shop", severity="page", slo="availability-{p}"}}'
                ),
                "value": 1,
            }
            for p in periods
        ],
    }


def test_28_and_7_day_periods(engine: Engine, tmp_path: Path) -> None:
    # Three SLOs on the same requests, 99.9% over 30d, 28d and 7d. Their fast page pairs:
    #   30d: 5m & 1h at 14.4 x 0.001 = 0.0144      (2% of the budget in 1 h)
    #   28d: 5m & 1h at 13.44 x 0.001 = 0.01344    (2% of 28 d is 13.44 h: 13.44x over 1 h)
    #    7d: 5m & 15m at 13.44 x 0.001 = 0.01344   (15 min is 1h x 7/30, snapped; 2% of 7 d is 3.36 h)
    #        and 5m & 1h at 8.4 x 0.001            (5% of 7 d = 8.4 h)
    rules = write_rules(tmp_path, engine, *period_slos())
    text = (tmp_path / rules).read_text(encoding="utf-8")
    assert "parapet_slo:error_ratio:rate15m" in text, text
    # Burn at 14x (1.4% errors) after 6 h of clean traffic, 1000 requests a minute.
    # - 7d: the 15m ratio passes 0.01344 after 15 x 0.96 = 14.4 min: firing from ~start+17.
    # - 28d: the 1h ratio passes 0.01344 after 60 x 0.96 = 57.6 min: firing from ~start+60.
    # - 30d: 14 < 14.4, the 1h ratio never passes 0.0144; its 30m/6h pair needs the 6h ratio over 0.006,
    #   i.e. 0.014 x t / 360 > 0.006, t > 154 min: quiet for the 90 minutes tested.
    # (the 28d slow pair needs t > 144 min, the 7d 1h pair t > 36 min: so at start+25 only 7d fires.)
    start = 360
    burn = 90
    ok = minutes(start, 1000) + minutes(burn, 986)
    failed = minutes(start, 0) + minutes(burn, 14)
    # A total outage after 3 h of clean traffic pages every period within 5 minutes.
    outage = 180
    engine.run(
        tmp_path,
        [rules],
        [
            {
                "name": "14x burn",
                "interval": "1m",
                "input_series": http(ok, failed),
                "promql_expr_test": [
                    period_alerts(start - 1),
                    period_alerts(start + 10),
                    period_alerts(start + 25, "7d"),
                    period_alerts(start + 45, "7d"),
                    period_alerts(start + 75, "28d", "7d"),
                    period_alerts(start + burn, "28d", "7d"),
                ],
            },
            {
                "name": "total outage",
                "interval": "1m",
                "input_series": http(minutes(outage, 1000) + minutes(10, 0), minutes(outage, 0) + minutes(10, 1000)),
                "promql_expr_test": [
                    period_alerts(outage),
                    period_alerts(outage + 5, "30d", "28d", "7d"),
                ],
            },
        ],
    )
