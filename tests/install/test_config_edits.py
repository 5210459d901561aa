"""Merging Parapet's entries into a host's prometheus.yml and alertmanager.yml: every byte of the host's
file kept, the entries found again on the next run, user edits left alone, checked by promtool and amtool."""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path

import pytest
import yaml

from parapet import conventions as c
from parapet.errors import ConfigError
from parapet_cli.install import configs
from parapet_cli.install.extras import RULES_GLOB
from tests.conftest import run_promtool, tree_hash
from tests.install.deploy_helpers import am_check, am_routes, make_host, only_insertions, sample

RULES = "prometheus/rules/shop.slo.rules.yml"
JOB = configs.ScrapeJob("shop", "web:8000")
HOOK = configs.Webhook("parapet-shop", "http://web:8000/parapet/webhook", "shop", "secrets/parapet-webhook-token")


def prom(text: str, job: configs.ScrapeJob = JOB) -> configs.Edit:
    return configs.edit_prometheus(
        text, "prometheus.yml", rule_glob="prometheus/rules/*.rules.yml", rule_file=RULES, job=job
    )


def am(text: str) -> configs.Edit:
    return configs.edit_alertmanager(text, "alertmanager.yml", hook=HOOK)


def test_the_rules_glob_matches_the_generated_rule_file_and_not_its_tests() -> None:
    assert fnmatchcase(c.rules_file("shop"), RULES_GLOB)
    assert not fnmatchcase(c.rules_test_file("shop"), RULES_GLOB)


# --- prometheus.yml ------------------------------------------------------------------------------------


def test_debian_sample_prometheus_yml_keeps_every_byte_and_gains_the_entries(tmp_path: Path, promtool: str) -> None:
    before = sample("prometheus.yml")
    edit = prom(before)
    assert edit.changed and not edit.manual
    added = "".join(only_insertions(before, edit.source))
    # its own indentation: the scrape job like its sibling jobs (dash at column 2, separated by a blank line)
    assert "  - prometheus/rules/*.rules.yml\n" in added
    assert "\n  - job_name: shop\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['web:8000']\n" in (
        added
    )
    # comments, quoting and odd spacing of the host's file survive as they were
    for kept in ("scrape_interval:     15s # Set the scrape interval", "monitor: 'example'", '# - "first_rules.yml"'):
        assert kept in edit.source
    data = yaml.safe_load(edit.source)
    assert data["rule_files"] == ["prometheus/rules/*.rules.yml"]
    assert [j["job_name"] for j in data["scrape_configs"]] == ["prometheus", "node", "shop"]
    assert prom(edit.source).changed is False  # found again: not a byte changes

    (tmp_path / "prometheus/rules").mkdir(parents=True)
    (tmp_path / RULES).write_text("groups: []\n")
    (tmp_path / "prometheus.yml").write_text(edit.source)
    checked = run_promtool(promtool, "check", "config", "prometheus.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 rule files found" in checked.stdout


def test_a_job_the_user_edited_is_left_alone() -> None:
    first = prom("scrape_configs:\n  - job_name: other\n").source
    assert "job_name: shop" in first
    edited = first.replace("metrics_path: /metrics", "metrics_path: /internal/metrics\n    scrape_interval: 5s")
    edited = edited.replace("'web:8000'", "'shop.internal:9000'")
    assert prom(edited).changed is False


def test_a_job_already_scraping_the_target_under_another_name_is_enough() -> None:
    text = "scrape_configs:\n  - job_name: shop-api\n    static_configs:\n      - targets: ['web:8000']\n"
    edit = prom(text)
    assert edit.source.count("static_configs") == 1
    assert edit.added == ("rule_files: prometheus/rules/*.rules.yml",)


def test_a_rule_files_glob_of_the_user_that_covers_the_rules_is_enough() -> None:
    text = "rule_files:\n- 'prometheus/rules/*.yml'\n"
    edit = prom(text)
    assert edit.source.startswith(text)
    assert "rules.yml" not in edit.source[len(text) :]


def test_zero_indented_lists_stay_zero_indented() -> None:
    text = (
        "global:\n  scrape_interval: 30s\nrule_files:\n- a.yml\n"
        "scrape_configs:\n- job_name: x\n  static_configs:\n  - targets: [x:1]\n"
    )
    edit = prom(text)
    added = only_insertions(text, edit.source)
    assert added[0] == "- prometheus/rules/*.rules.yml\n"
    assert added[1:] == [
        "- job_name: shop\n",
        "  metrics_path: /metrics\n",
        "  static_configs:\n",
        "  - targets: ['web:8000']\n",
    ]


def test_an_empty_file_gets_both_blocks_and_a_guessed_target_says_so() -> None:
    guessed = configs.ScrapeJob("shop", "localhost:8000", guessed=True)
    edit = prom("# Prometheus for the shop\n", guessed)
    data = yaml.safe_load(edit.source)
    assert data["rule_files"] == ["prometheus/rules/*.rules.yml"]
    assert data["scrape_configs"][0]["static_configs"][0]["targets"] == ["localhost:8000"]
    assert "# parapet install: a guess, adjust" in edit.source
    assert edit.source.startswith("# Prometheus for the shop\n")


def test_a_flow_style_list_is_not_rewritten_the_lines_are_reported() -> None:
    text = "rule_files: ['a.yml']  # keep this\nscrape_configs:\n  - job_name: x\n"
    edit = prom(text)
    assert edit.source.startswith(text) and "job_name: shop" in edit.source  # the job still goes in
    assert edit.manual == ("rule_files:", "  - prometheus/rules/*.rules.yml")


def test_an_empty_flow_list_opens_into_a_block_list_and_line_endings_are_kept() -> None:
    text = "rule_files: []  # none yet\r\nscrape_configs: []\r\n"
    edit = prom(text)
    assert edit.source == (
        "rule_files:  # none yet\r\n  - prometheus/rules/*.rules.yml\r\n"
        "scrape_configs:\r\n  - job_name: shop\r\n    metrics_path: /metrics\r\n"
        "    static_configs:\r\n      - targets: ['web:8000']\r\n"
    )
    assert prom(edit.source).changed is False


def test_a_block_scalar_that_fools_the_line_edit_is_caught_by_the_reparse() -> None:
    # the comment-looking line inside the literal block ends the list as far as lines go
    text = "scrape_configs:\n  - job_name: x\n    params:\n      q: |\n        a\n        # b\n"
    edit = prom(text)
    assert edit.source == text and not edit.changed
    assert "  - job_name: shop" in edit.manual and "  - prometheus/rules/*.rules.yml" in edit.manual


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("global:\n  scrape_interval: 15s\n scrape_configs:\n", "prometheus.yml:3:"),
        ("scrape_configs:\n  - job_name: a\n  - job_name: [b\n", "prometheus.yml:4:"),
        ("global: {}\nglobal: {}\n", "prometheus.yml:2:"),
        ("rule_files: some.yml\n", "prometheus.yml:1:"),
        ("- just\n- a list\n", "prometheus.yml:1:"),
    ],
)
def test_malformed_files_raise_one_line_naming_file_and_line(text: str, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        prom(text)
    assert caught.value.message.startswith(where), caught.value.message
    assert "\n" not in caught.value.message
    assert caught.value.hint and "nothing was written" in caught.value.hint


# --- alertmanager.yml ----------------------------------------------------------------------------------


def test_debian_sample_alertmanager_yml_keeps_every_byte_and_its_routing(tmp_path: Path) -> None:
    before = sample("alertmanager.yml")
    edit = am(before)
    assert edit.changed and not edit.manual
    added = "".join(only_insertions(before, edit.source))
    assert "credentials_file: secrets/parapet-webhook-token" in added
    assert "Bearer" not in added and "credentials:" not in added  # never an inline secret
    data = yaml.safe_load(edit.source)
    routes = data["route"]["routes"]
    assert routes[0] == {"receiver": "parapet-shop", "matchers": ['service="shop"'], "continue": True}
    assert routes[-1] == {"receiver": "team-X-mails", "matchers": ['service="shop"']}
    hook = next(r for r in data["receivers"] if r["name"] == "parapet-shop")["webhook_configs"][0]
    assert hook["url"] == "http://web:8000/parapet/webhook" and hook["send_resolved"] is True
    assert am(edit.source).changed is False

    path = tmp_path / "alertmanager.yml"
    path.write_text(edit.source)
    checked = am_check(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Parapet gets the service's alerts, and every route that had an alert before still has it
    assert am_routes(path, "service=shop") == ["parapet-shop", "team-X-mails"]
    assert am_routes(path, "service=shop", "severity=critical") == ["parapet-shop", "team-X-mails"]
    assert am_routes(path, "service=files", "severity=critical") == ["team-Y-pager"]
    assert am_routes(path, "service=foo1") == ["team-X-mails"]
    original = tmp_path / "original.yml"
    original.write_text(before)
    for labels in (("service=files",), ("service=database", "owner=team-Y"), ("service=other",)):
        assert am_routes(path, *labels) == am_routes(original, *labels)


def test_a_route_to_parapet_anywhere_and_an_edited_receiver_are_left_alone() -> None:
    text = (
        'route:\n  receiver: ops\n  routes:\n    - matchers: [team="shop"]\n      receiver: ops\n'
        "      routes:\n        - receiver: parapet-shop\n"
        "receivers:\n  - name: ops\n  - name: parapet-shop\n    webhook_configs:\n"
        "      - url: https://shop.example.com/parapet/webhook\n"
    )
    assert am(text).changed is False


def test_a_route_without_children_gets_its_routes_key() -> None:
    text = (
        "route:\n  receiver: ops  # the team\n  group_wait: 30s\n"
        "receivers:\n  - name: ops\n    email_configs:\n      - to: ops@example.com\n"
    )
    edit = am(text)
    added = only_insertions(text, edit.source)
    assert added[0] == "  routes:\n"
    data = yaml.safe_load(edit.source)
    assert [r["receiver"] for r in data["route"]["routes"]] == ["parapet-shop", "ops"]


def test_no_fallthrough_route_for_a_receiver_that_delivers_nowhere() -> None:
    text = "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n"
    data = yaml.safe_load(am(text).source)
    assert [r["receiver"] for r in data["route"]["routes"]] == ["parapet-shop"]


# --- through parapet install ---------------------------------------------------------------------------


def monitored(tmp_path: Path) -> Path:
    compose = "services:\n  web:\n    build: .\n    command: uvicorn app:app --host 0.0.0.0 --port 8000\n"
    return make_host(
        tmp_path,
        {
            "compose.yaml": compose,
            "monitoring/prometheus.yml": sample("prometheus.yml"),
            "monitoring/alertmanager.yml": sample("alertmanager.yml"),
        },
    )


def test_install_merges_then_finds_its_entries_and_changes_no_byte(
    cli, tmp_path: Path, promtool: str, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    host = monitored(tmp_path)
    monkeypatch.chdir(host)  # run from the host's root, as a user does: paths print relative to it
    prometheus_yml, alertmanager_yml = host / "monitoring/prometheus.yml", host / "monitoring/alertmanager.yml"

    dry = cli("install", str(host), "--dry-run", "--diff")
    assert dry.exit_code == 0, dry.output
    assert "+++ b/monitoring/prometheus.yml" in dry.stdout and "+  - ../prometheus/rules/*.rules.yml" in dry.stdout
    assert prometheus_yml.read_text() == sample("prometheus.yml")

    first = cli("install", str(host))
    assert first.exit_code == 0, first.output
    assert "update monitoring/prometheus.yml" in first.stderr and "update monitoring/alertmanager.yml" in first.stderr
    assert "scrape target web:8000 from service web of compose.yaml" in first.stderr
    assert "monitoring/secrets/parapet-webhook-token" in first.stderr
    only_insertions(sample("prometheus.yml"), prometheus_yml.read_text())
    only_insertions(sample("alertmanager.yml"), alertmanager_yml.read_text())
    checked = run_promtool(promtool, "check", "config", "monitoring/prometheus.yml", cwd=host)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout  # the glob reaches the generated rules
    assert am_check(alertmanager_yml).returncode == 0
    assert "monitoring/prometheus.yml" not in (host / ".parapet/manifest.json").read_text()

    before = tree_hash(host)
    again = cli("install", str(host))
    assert again.exit_code == 0, again.output
    assert "update" not in again.stderr and "create" not in again.stderr
    assert tree_hash(host) == before
    assert cli("install", str(host), "--check").exit_code == 0

    # the user edits Parapet's job: still found, still not a conflict, never reverted
    edited = prometheus_yml.read_text().replace("'web:8000'", "'web.internal:8000'")
    prometheus_yml.write_text(edited)
    assert cli("install", str(host), "--check").exit_code == 0
    assert cli("install", str(host)).exit_code == 0
    assert prometheus_yml.read_text() == edited

    # the user deletes it: drift, which --check reports and install restores
    prometheus_yml.write_text(sample("prometheus.yml"))
    drift = cli("install", str(host), "--check")
    assert drift.exit_code == 1 and "update monitoring/prometheus.yml" in drift.stderr
    assert prometheus_yml.read_text() == sample("prometheus.yml")


def test_a_malformed_prometheus_yml_exits_3_with_one_line_and_writes_nothing(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = monitored(tmp_path)
    path = host / "monitoring/prometheus.yml"
    path.write_text(sample("prometheus.yml").replace("scrape_configs:\n", "scrape_configs:\n  - job_name: [x\n", 1))
    before = tree_hash(host)
    result = cli("install", str(host))
    assert result.exit_code == 3, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: monitoring/prometheus.yml:"), result.stderr
    assert "hint:" in result.stderr and "Traceback" not in result.output
    assert tree_hash(host) == before
