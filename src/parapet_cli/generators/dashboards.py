"""``parapet gen dashboards``: Grafana dashboards per service, built with grafana-foundation-sdk.

Per service:

    dashboards/<service>/overview.json          every SLO: availability, budget remaining, burn rates, traffic,
                                                 deploy markers (an annotation on parapet_build_info) and
                                                 changes (deploys and flag changes Parapet recorded, from
                                                 parapet_change_last_timestamp_seconds)
    dashboards/<service>/slo-<slo>.json         one SLO: error ratio per alert window with its thresholds, the
                                                 error budget burning down over the period, latency percentiles
                                                 for latency SLIs
    provisioning/dashboards/parapet-<service>.yml   a Grafana file provider that loads the folder above

Every query reads only series the rules of ``parapet gen slo`` record (names from ``parapet.conventions``),
the metric contract's ``parapet_build_info``, and, for latency percentiles, the histogram the SLI itself
reads. The JSON is deterministic: sorted keys, fixed panel ids and positions, no timestamps; the marker
that Parapet generated it sits in each dashboard's ``description`` and ``tags`` (JSON holds no comments).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Final

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import AnnotationQuery, DataSourceRef, GridPos

from parapet import conventions as c
from parapet.slo.windows import slo_window_pairs
from parapet.spec.model import SLO, SLIKind, Spec
from parapet.spec.promql import format_matchers, inspect
from parapet.spec.sources import format_decimal
from parapet_cli.generators import PlannedFile, header
from parapet_cli.generators.slo_rules import selector

GENERATOR: Final = "dashboards"
DEFAULT_DIR: Final = "grafana"
TAG: Final = "parapet"
DATASOURCE: Final = DataSourceRef(type_val="prometheus", uid="${datasource}")
PERCENTILES: Final = ("0.5", "0.9", "0.99")
DEPLOY_MARKER: Final = f"changes(max by (version) ({c.BUILD_INFO})[5m:1m]) > 0"


def change_marker(service: str) -> str:
    """The newest change per kind (deploy, flag_change) of the service or of no service, in milliseconds: with
    ``useValueForTime`` Grafana puts each annotation at the change's own time (parapet.changes.metrics)."""
    sel = format_matchers([(c.LABEL_SERVICE, "=~", f"{re.escape(service)}|")])
    return f"max by ({c.LABEL_CHANGE_KIND}) ({c.CHANGE_LAST_TIMESTAMP}{{{sel}}}) * 1000"


class _ValueTimeAnnotation(AnnotationQuery):
    """A Prometheus annotation whose series value is its time (the SDK's model has no field for it)."""

    def to_json(self) -> dict[str, object]:
        return {
            **super().to_json(),
            "useValueForTime": True,
            "titleFormat": "{{" + c.LABEL_CHANGE_KIND + "}}",
            "textFormat": "see the incident's suspect changes, or parapet mark / MCP list_changes, for what changed",
            "step": "1m",
        }


class _Changes(cogbuilder.Builder[AnnotationQuery]):
    """A builder (``build()``) of the change annotation, for ``Dashboard.annotation``."""

    def __init__(self, service: str) -> None:
        self.service = service

    def build(self) -> AnnotationQuery:
        return _ValueTimeAnnotation(
            name="Changes", datasource=DATASOURCE, enable=True, icon_color="orange", expr=change_marker(self.service)
        )


def _target(expr: str, legend: str, ref: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)


def _refs() -> list[str]:
    return [chr(ord("A") + i) for i in range(26)]


def _base(title: str, uid_value: str, spec_name: str, period_days: int, service: str) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard(title)
        .uid(uid_value)
        .description(header(spec_name, "").strip())
        .tags([TAG, "slo"])
        .editable()
        .refresh("1m")
        .time(f"now-{period_days}d" if period_days <= 7 else "now-7d", "now")
        .timezone("browser")
        .with_variable(dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .annotation(
            dashboard.AnnotationQuery()
            .name("Deploys")
            .datasource(DATASOURCE)
            .enable(True)
            .icon_color("blue")
            .expr(DEPLOY_MARKER)
        )
        .annotation(_Changes(service))
    )


class _Layout:
    """Fixed panel ids and grid positions, so the JSON never depends on the builder's flow."""

    def __init__(self) -> None:
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_height = 0

    def place(self, width: int, height: int) -> tuple[int, GridPos]:
        if self.x + width > 24:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        pos = GridPos(h=height, w=width, x=self.x, y=self.y)
        self.x += width
        self.row_height = max(self.row_height, height)
        pid = self.next_id
        self.next_id += 1
        return pid, pos

    def newline(self) -> None:
        if self.x:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0


PanelBuilder = stat.Panel | timeseries.Panel


def _add(board: dashboard.Dashboard, layout: _Layout, panel: PanelBuilder, width: int, height: int) -> None:
    pid, pos = layout.place(width, height)
    board.with_panel(panel.id(pid).grid_pos(pos).datasource(DATASOURCE))


def _row(board: dashboard.Dashboard, layout: _Layout, title: str) -> None:
    layout.newline()
    pid, pos = layout.place(24, 1)
    layout.newline()
    board.with_row(dashboard.Row(title).id(pid).grid_pos(pos))


def _stat(title: str, expr: str, unit: str, description: str) -> stat.Panel:
    return stat.Panel().title(title).description(description).unit(unit).decimals(3).with_target(_target(expr, "", "A"))


def _series(title: str, description: str, unit: str, targets: list[tuple[str, str]]) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).description(description).unit(unit)
    for (expr, legend), ref in zip(targets, _refs(), strict=False):
        panel.with_target(_target(expr, legend, ref))
    return panel


def _burn_windows(slo: SLO) -> list[str]:
    out: list[str] = []
    for pair in slo_window_pairs(slo):
        for name in (pair.long_name, pair.short_name):
            if name not in out:
                out.append(name)
    return out


def overview(spec: Spec, spec_name: str) -> dashboard.Dashboard:
    board = _base(f"{spec.service}: SLO overview", c.overview_dashboard_uid(spec.service), spec_name, 7, spec.service)
    layout = _Layout()
    for slo in spec.slos:
        sel = selector(spec, slo)
        _row(board, layout, f"{slo.name} ({format_decimal(slo.objective)}% over {slo.period_days}d)")
        _add(
            board,
            layout,
            _stat(
                "Availability",
                f"1 - {c.ERROR_RATIO_PERIOD}{sel}",
                "percentunit",
                f"Good events over the {slo.period_days}-day period; "
                f"the objective is {format_decimal(slo.objective)}%.",
            ),
            4,
            6,
        )
        _add(
            board,
            layout,
            _stat(
                "Error budget remaining",
                f"{c.BUDGET_REMAINING}{sel}",
                "percentunit",
                "The share of the period's error budget not yet spent (negative: overspent).",
            ),
            4,
            6,
        )
        # burn rates other than the current (5m) one are not recorded: each is its window's ratio / the budget
        budget = format_decimal(slo.error_budget)
        burns = [(f"{c.error_ratio(w)}{sel} / {budget}", w) for w in _burn_windows(slo)]
        _add(
            board,
            layout,
            _series("Burn rate", "Error ratio over each alert window divided by the error budget.", "x", burns),
            8,
            6,
        )
        _add(
            board,
            layout,
            _series("Traffic", "Events per second (5m rate).", "reqps", [(f"{c.events_rate('5m')}{sel}", "events")]),
            8,
            6,
        )
    if spec.probes:
        _probes(board, layout, spec)
    return board


def _probes(board: dashboard.Dashboard, layout: _Layout, spec: Spec) -> None:
    """The synthetic probes of the spec: success ratio and duration per probe (parapet.probes)."""
    names = format_matchers([(c.LABEL_PROBE, "=~", "|".join(re.escape(p.name) for p in spec.probes))])
    runs = f"{c.PROBE_DURATION}_count"
    ok = format_matchers(
        [(c.LABEL_PROBE, "=~", "|".join(re.escape(p.name) for p in spec.probes)), (c.LABEL_OUTCOME, "=", "success")]
    )
    _row(board, layout, "Synthetic probes")
    _add(
        board,
        layout,
        _series(
            "Probe success",
            "Share of each probe's runs that succeeded (15m), whichever process ran them.",
            "percentunit",
            [
                (
                    f"sum by ({c.LABEL_PROBE}) (rate({runs}{{{ok}}}[15m])) / "
                    f"sum by ({c.LABEL_PROBE}) (rate({runs}{{{names}}}[15m]))",
                    "{{" + c.LABEL_PROBE + "}}",
                )
            ],
        ),
        12,
        8,
    )
    _add(
        board,
        layout,
        _series(
            "Probe duration (p90) and failed runs",
            "How long runs take, and runs per minute that did not succeed, by outcome.",
            "s",
            [
                (
                    f"histogram_quantile(0.9, sum by ({c.LABEL_PROBE}, le) "
                    f"(rate({c.PROBE_DURATION}_bucket{{{names}}}[15m])))",
                    "{{" + c.LABEL_PROBE + "}} p90",
                ),
                (
                    f"sum by ({c.LABEL_PROBE}, {c.LABEL_OUTCOME}) "
                    f'(increase({runs}{{{names}, {c.LABEL_OUTCOME}!="success"}}[1m]))',
                    "{{" + c.LABEL_PROBE + "}} {{" + c.LABEL_OUTCOME + "}}",
                ),
            ],
        ),
        12,
        8,
    )


def detail(spec: Spec, slo: SLO, spec_name: str) -> dashboard.Dashboard:
    title = f"{spec.service}: {slo.name}"
    board = _base(title, c.slo_dashboard_uid(spec.service, slo.name), spec_name, slo.period_days, spec.service)
    if slo.description:
        board.description(f"{slo.description}. {header(spec_name, '').strip()}")
    layout = _Layout()
    sel = selector(spec, slo)
    targets: list[tuple[str, str]] = []
    for pair in slo_window_pairs(slo):
        for name in (pair.long_name, pair.short_name):
            entry = (f"{c.error_ratio(name)}{sel}", f"error ratio {name}")
            if entry not in targets:
                targets.append(entry)
        threshold = (
            f"{format_decimal(pair.factor)} * {c.ERROR_BUDGET}{sel}",
            f"{pair.severity} threshold ({pair.long_name}/{pair.short_name}, {format_decimal(pair.factor)}x)",
        )
        if threshold not in targets:
            targets.append(threshold)
    _add(
        board,
        layout,
        _series(
            "Error ratio per window",
            "Bad events / all events over each alert window; an alert fires when both windows of a pair cross "
            "their threshold.",
            "percentunit",
            targets,
        ),
        24,
        9,
    )
    _add(
        board,
        layout,
        _series(
            f"Error budget over the {slo.period_days}-day period",
            "The share of the error budget left; it burns down as bad events accumulate.",
            "percentunit",
            [(f"{c.BUDGET_REMAINING}{sel}", "budget remaining")],
        ),
        12,
        8,
    )
    _add(
        board,
        layout,
        _series(
            "Period burn rate",
            "Error ratio over the whole period divided by the budget: above 1, the budget runs out early.",
            "x",
            [(f"{c.BURN_RATE_PERIOD}{sel}", "period burn rate")],
        ),
        12,
        8,
    )
    bucket = latency_bucket(slo)
    if bucket is not None:
        name, matchers = bucket
        by = ", ".join(("le", *slo.group_by))
        series = f"{name}{{{format_matchers(matchers)}}}" if matchers else name
        quantiles = [
            (f"histogram_quantile({q}, sum by ({by}) (rate({series}[5m])))", f"p{format_decimal(Decimal(q) * 100)}")
            for q in PERCENTILES
        ]
        panel = _series("Latency percentiles", "From the SLI's histogram (5m rate).", "s", quantiles)
        _add(board, layout, panel, 24, 8)
    return board


def latency_bucket(slo: SLO) -> tuple[str, tuple[tuple[str, str, str], ...]] | None:
    """The SLI's ``_bucket`` series and its matchers (without ``le``), for a latency SLI."""
    if slo.sli.kind != SLIKind.LATENCY or slo.sli.good is None:
        return None
    for sel in inspect(slo.sli.good).selectors:
        if sel.name is not None and sel.name.endswith("_bucket"):
            return sel.name, tuple(m for m in sel.matchers if m[0] != "le")
    return None


def render(board: dashboard.Dashboard) -> bytes:
    return (json.dumps(board.build(), cls=JSONEncoder, sort_keys=True, indent=2) + "\n").encode("utf-8")


def provisioning(spec: Spec, spec_name: str, dashboards_dir: str) -> PlannedFile:
    body = (
        header(spec_name)
        + "# A Grafana dashboard provider: copy or mount this file into Grafana's provisioning/dashboards/ and\n"
        + "# mount the dashboards folder at the path below.\n"
        + "apiVersion: 1\n"
        + "providers:\n"
        + f"  - name: {c.dashboards_provider(spec.service)}\n"
        + f"    folder: Parapet {spec.service}\n"
        + "    type: file\n"
        + "    disableDeletion: false\n"
        + "    allowUiUpdates: false\n"
        + "    updateIntervalSeconds: 60\n"
        + "    options:\n"
        + f"      path: {dashboards_dir}/{spec.service}\n"
        + "      foldersFromFilesStructure: false\n"
    )
    return PlannedFile(c.dashboards_provisioning_file(spec.service), body.encode("utf-8"), GENERATOR)


def generate(
    spec: Spec, spec_name: str, *, grafana_dashboards_dir: str = "/var/lib/grafana/dashboards"
) -> list[PlannedFile]:
    """The overview, one detail dashboard per SLO, and the provisioning file."""
    files = [PlannedFile(c.overview_dashboard_file(spec.service), render(overview(spec, spec_name)), GENERATOR)]
    for slo in spec.slos:
        files.append(
            PlannedFile(c.slo_dashboard_file(spec.service, slo.name), render(detail(spec, slo, spec_name)), GENERATOR)
        )
    files.append(provisioning(spec, spec_name, grafana_dashboards_dir))
    return files
