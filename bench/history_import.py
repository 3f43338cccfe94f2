"""Ground truth from history: import throughput of a messy 10,000-row CDP export and the share of rows
rejected by reason (median of several runs), then the demo's coverage of the scenario space with
generated and imported states side by side.

The side-by-side table replays SAMPLE imported states through a scripted agent that follows the contact
policy (coverage counts states, not the agent's quality) and puts them beside the demo's generated
traces (chainjudge/packs/cep/traces/traces.jsonl).

    .venv/bin/python bench/history_import.py --runs 3 --sample 60
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from chainjudge.core import offline  # noqa: E402

offline.apply()

from chainjudge.analysis.coverage import cell_weight, coverage, covered_by  # noqa: E402
from chainjudge.core.schema import StepKind  # noqa: E402
from chainjudge.packs.cep.fake_export import MAPPING, write_export  # noqa: E402
from chainjudge.packs.cep.mapping import load_mapping  # noqa: E402
from chainjudge.packs.cep.policy import expected_action, load_policy  # noqa: E402
from chainjudge.packs.cep.recording import LLMConfig, record, step  # noqa: E402
from chainjudge.packs.cep.state_import import import_history  # noqa: E402
from chainjudge.pipeline import load_traces  # noqa: E402
from chainjudge.workflows.golive import load_space  # noqa: E402


def policy_agent(user, llm):
    decided = expected_action(user)
    body = {
        "action": decided.action,
        "channel": decided.channel,
        "content_language": decided.content_language,
        "offer": decided.offer,
        "reason": decided.reason,
    }
    return [step(0, StepKind.user, f"decide for {user.id}"), step(1, StepKind.decision, json.dumps(body))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sample", type=int, default=60, help="imported states replayed for the coverage table")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chainjudge-history-"))
    export = write_export(work / "cdp.csv", rows=args.rows)
    (work / "mapping.yaml").write_text(MAPPING)
    mapping, policy = load_mapping(work / "mapping.yaml"), load_policy()
    seconds, report, scenarios = [], None, []
    for _ in range(args.runs):
        scenarios, report = import_history(export, mapping, b"bench-key" * 4, policy)
        seconds.append(report.seconds)
    median = statistics.median(seconds)
    print(
        f"{platform.machine()}, {platform.python_version()}: {args.rows} rows, median {median:.2f} s of "
        f"{', '.join(f'{s:.2f}' for s in seconds)} -> {args.rows / median:,.0f} rows/s"
    )
    print(f"imported {report.imported} ({report.imported / report.rows:.1%}); rejected by reason:")
    for kind, n in report.by_kind().most_common():
        print(f"  {kind:14} {n:5}  {n / report.rows:.1%}")
    print(f"annotated next actions: {report.annotated}; the policy derives another action or channel for {report.disagreements}")

    replayed = list(record(scenarios[: args.sample], policy_agent, LLMConfig(model="scripted")))
    generated = load_traces([ROOT / "chainjudge" / "packs" / "cep" / "traces" / "traces.jsonl"]).traces
    space = load_space(ROOT / "chainjudge" / "packs" / "cep" / "rubrics" / "space.yaml")
    cov = coverage(generated + replayed, space, {t.id: True for t in generated + replayed})
    imported, made = cov.by_origin.get("imported", {}), cov.by_origin.get("generated", {})
    print(f"\ncoverage of {' x '.join(space.grid)} with {len(generated)} generated and {len(replayed)} imported states:")
    print(f"{'cell':10} {'weight':>6} {'generated':>9} {'imported':>8}  covered by")
    for cell in sorted(cov.cells, key=lambda c: (-cell_weight(space, c), c)):
        print(f"{'/'.join(cell):10} {cell_weight(space, cell):6g} {made.get(cell, 0):9} {imported.get(cell, 0):8}  {covered_by(cov, cell)}")
    counts: dict[str, int] = {}
    for cell in cov.cells:
        counts[covered_by(cov, cell)] = counts.get(covered_by(cov, cell), 0) + 1
    print("cells: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
