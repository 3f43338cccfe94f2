"""`chainjudge demo`: the main job on bundled data, end to end, in a few minutes on a laptop CPU.

Bundled: 20 real tool-using agent trajectories with human step labels (AgentProcessBench HotPotQA) and
the step-quality rubric.  The demo ingests them all, judges a small sample live with the offline local
judge (or any --judge), compares each verdict with the human label beside a trivial baseline, and says
how to judge the rest.  A second run makes no judge calls: every judgment is found in the store.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from chainjudge.schema import Judgment, StepKind, Trace, WorkItem

ROOT = Path(__file__).resolve().parents[1]
DEMO_TRACES = ROOT / "traces" / "agentprocessbench-hotpotqa-sample.jsonl"
DEMO_RUBRIC = ROOT / "rubrics" / "step-quality.yaml"
DEMO_DB = Path(".chainjudge") / "demo.db"
HUMAN_LABELS = {1: "correct", 0: "neutral", -1: "error"}
LABELLED_CRITERION = "step_correct"


def human_label(trace: Trace, ref: str) -> str | None:
    labels = trace.metadata.get("step_labels")
    if not isinstance(labels, dict) or ref not in labels:
        return None
    return HUMAN_LABELS.get(labels[ref])  # type: ignore[arg-type]


def pick_sample(items: list[WorkItem], traces: dict[str, Trace], n: int) -> list[WorkItem]:
    """n human-labelled step_correct items, spread over traces, alternating tool calls and final answers."""
    labelled = [
        i for i in items
        if i.criteria[0].id == LABELLED_CRITERION and human_label(traces[i.trace_id], i.step.ref) is not None
    ]
    calls = [i for i in labelled if i.step.kind is StepKind.tool_call]
    answers = [i for i in labelled if i.step.kind is StepKind.decision]
    chosen: list[WorkItem] = []
    used_traces: set[str] = set()
    while len(chosen) < n and (calls or answers):
        for pool in (answers, calls):
            while pool and len(chosen) < n:
                item = pool.pop(0)
                if item.trace_id not in used_traces or not any(p.trace_id not in used_traces for p in pool):
                    chosen.append(item)
                    used_traces.add(item.trace_id)
                    break
    return chosen


def run_demo(out: Console, err: Console, judge_spec: str, api_base: str | None, sample: int, db: Path | None) -> int:
    from chainjudge.judges.resolve import JudgeSetupError, open_judge
    from chainjudge.progress import live_progress
    from chainjudge.rubric import load_rubric
    from chainjudge.runner import judge_traces, load_traces
    from chainjudge.store import Store

    db_path = db or DEMO_DB
    out.print(Panel.fit(
        "chainjudge demo: 20 recorded tool-using agent traces (AgentProcessBench HotPotQA, with human step labels)\n"
        f"rubric {DEMO_RUBRIC.relative_to(ROOT)}; judge: {judge_spec}; store: {db_path}",
        title="chainjudge",
    ))
    rubric = load_rubric(DEMO_RUBRIC)
    loaded = load_traces([DEMO_TRACES])
    by_id = {t.id: t for t in loaded.traces}
    steps = sum(len(t.steps) for t in loaded.traces)
    out.print(f"1. ingested {len(loaded.traces)} traces, {steps} steps ({len(loaded.errors)} bad records)")
    if judge_spec == "local":
        out.print("2. starting the offline local judge (Qwen2.5-Coder-1.5B, llama.cpp on this CPU: ~10-30 s per step)")
    else:
        out.print(f"2. judge: {judge_spec}")
    store = Store(db_path)
    try:
        with open_judge(judge_spec, api_base=api_base, log_dir=db_path.parent) as (settings, judge):
            run_name = f"demo-{settings.model.split('/')[-1]}"
            with live_progress(out, f"   judging a sample of {sample} steps") as (on_start, on_progress):
                outcome = judge_traces(
                    loaded.traces, rubric, settings, judge, store, run_name, sources=[str(DEMO_TRACES)],
                    concurrency=1 if judge_spec == "local" else 8, on_start=on_start, on_progress=on_progress,
                    select=lambda items: pick_sample(items, by_id, sample),
                )
    except JudgeSetupError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        return 2
    p = outcome.progress
    out.print(
        f"   {p.calls} judge calls made, {p.skipped} already in the store (a re-run makes none), {p.errors} errors"
    )
    judged = [j for j in store.judgments(run_name) if j.criterion_id == LABELLED_CRITERION]
    _agreement_table(out, judged, by_id)
    plan_size = sum(
        1 for t in loaded.traces for s in t.steps for c in rubric.criteria if s.kind in c.applies_to
    )
    out.print(Panel(
        "The local judge is a 1.5B model quantised to 4 bits: on 75 human-labelled AgentProcessBench steps it "
        "scored BELOW a judge that calls every step correct. Treat its verdicts as untrusted; the demo shows "
        "the harness measuring that, not a judge you should believe.",
        title="read this", border_style="yellow",
    ))
    db_flag = f" --db {db_path}"
    traces_arg, rubric_arg = _shown(DEMO_TRACES), _shown(DEMO_RUBRIC)
    out.print(
        f"results: {db_path}   (chainjudge show {run_name}{db_flag} · chainjudge export {run_name}{db_flag} --format csv)\n"
        f"judge the rest ({plan_size} work items): chainjudge judge {traces_arg} "
        f"--rubric {rubric_arg}{db_flag} --run demo-full --judge local   "
        "(or --judge openai/gpt-4o-mini with OPENAI_API_KEY set; Ctrl-C and re-run resumes)",
        highlight=False,
    )
    return 1 if p.errors else 0


def _shown(path: Path) -> str:
    """A path as the user can type it from where they are."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _agreement_table(out: Console, judged: list[Judgment], traces: dict[str, Trace]) -> None:
    table = Table("trace", "step", "kind", "judge", "human", "", "judge's rationale", title="3. judge vs human step labels")
    agree = baseline = scored = 0
    for j in judged:
        trace = traces[j.trace_id]
        human = human_label(trace, j.step_ref)
        label = j.verdict.label if j.verdict else "(error)"
        if j.verdict and human:
            scored += 1
            agree += label == human
            baseline += human == "correct"
        mark = "[green]=[/]" if label == human else "[red]≠[/]"
        rationale = (j.verdict.rationale if j.verdict else j.error or "")[:60]
        kind = trace.steps[j.step_index].kind.value
        table.add_row(j.trace_id.split(":", 1)[-1], j.step_ref, kind, label, human or "-", mark, rationale)
    out.print(table)
    if scored:
        out.print(
            f"   agreement with humans on these {scored} steps: judge {agree}/{scored} = {agree / scored:.0%}; "
            f"a judge that always says 'correct' would get {baseline}/{scored} = {baseline / scored:.0%}. "
            "A sample this small proves nothing either way: see the calibration figures in the README."
        )
