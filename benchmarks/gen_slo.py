"""Generate rules for 1,000 SLOs and print wall time and rules per second.

    python benchmarks/gen_slo.py [--slos 1000] [--repeat 3] [--promtool]

Phases are timed separately: loading and validating the spec (YAML, pydantic, PromQL parsing of every
template), generating the rule and test files, and writing them through the plan/apply layer. With
--promtool, ``promtool check rules`` on the output is timed too, for scale.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from parapet.spec import load_spec
from parapet_cli.generators.slo_rules import generate
from parapet_cli.plan import apply_plan, build_plan

KINDS = [
    """  - name: http-{i}
    objective: 99.9
    sli: {{http: {{routes: ["/api/v{i}/items"]}}}}
""",
    """  - name: latency-{i}
    objective: 99
    period: 28d
    sli: {{latency: {{threshold: 0.5, filter: 'http_route="/api/v{i}/items"'}}}}
""",
    """  - name: events-{i}
    objective: 99.5
    group_by: [region]
    sli:
      events:
        error_query: sum by (region) (rate(orders_total{{shard="{i}", outcome="error"}}[{{{{window}}}}]))
        total_query: sum by (region) (rate(orders_total{{shard="{i}"}}[{{{{window}}}}]))
""",
    """  - name: job-{i}
    objective: 99
    period: 7d
    sli: {{job: {{task: "tasks.job_{i}"}}}}
""",
]


def make_spec(count: int) -> str:
    head = "version: parapet/v1\nservice: bench\nalerting:\n  runbook_url: https://runbooks.example.com/{slo}\nslos:\n"
    return head + "".join(KINDS[i % len(KINDS)].format(i=i) for i in range(count))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slos", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--promtool", action="store_true", help="also time promtool check rules")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="parapet-bench-"))
    try:
        spec_path = work / "parapet.yaml"
        spec_path.write_text(make_spec(args.slos))
        best: dict[str, float] = {}
        rules = 0
        size = 0
        for _ in range(args.repeat):
            out = work / "out"
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(work / ".parapet", ignore_errors=True)
            t0 = time.perf_counter()
            spec = load_spec(spec_path)
            t1 = time.perf_counter()
            files = generate(spec, "parapet.yaml")
            t2 = time.perf_counter()
            apply_plan(build_plan(files, out, work))
            t3 = time.perf_counter()
            for phase, seconds in (("load", t1 - t0), ("generate", t2 - t1), ("write", t3 - t2), ("total", t3 - t0)):
                best[phase] = min(best.get(phase, seconds), seconds)
            rules_text = files[0].content.decode()
            rules = rules_text.count("\n      - record: ") + rules_text.count("\n      - alert: ")
            size = sum(len(f.content) for f in files)
        print(f"parapet gen slo: {args.slos} SLOs, {rules} rules, {size / 1e6:.1f} MB written (best of {args.repeat})")
        print()
        print(f"| {'phase':<10} | {'seconds':>8} | {'rules/s':>10} |")
        print(f"|{'-' * 12}|{'-' * 10}:|{'-' * 11}:|")
        for phase in ("load", "generate", "write", "total"):
            print(f"| {phase:<10} | {best[phase]:>8.3f} | {rules / best[phase]:>10,.0f} |")
        if args.promtool:
            promtool = shutil.which("promtool")
            if promtool is None:
                print("\npromtool not found: skipped", file=sys.stderr)
            else:
                t0 = time.perf_counter()
                subprocess.run(
                    [promtool, "check", "rules", str(work / "out" / "bench.slo.rules.yml")],
                    check=True,
                    capture_output=True,
                )
                print(f"\npromtool check rules on the output: {time.perf_counter() - t0:.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
