"""`chainjudge demo`: the main job on the bundled CEP pack, end to end, in a few minutes on a laptop CPU.

Bundled: CEP traces recorded from the example next-best-action agent over generated user-state
scenarios (model and date in each trace), the scenarios with their expected actions, and the CEP rubric.
The demo runs the deterministic policy checks on every decision, scores decision correctness against the
expected actions, judges a small sample live with the offline local judge, measures that judge against
the ground truth the scenarios carry, queues disagreements for people, and says how to judge the rest.
A second run makes no judge calls: every judgment is found in the store.
"""

from __future__ import annotations

from collections import Counter
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from chainjudge.core.rubric import load_rubric
from chainjudge.core.schema import StepKind, WorkItem
from chainjudge.core.store import Store
from chainjudge.packs.cep.files import pack_file
from chainjudge.review import queue as review

DEMO_TRACES = pack_file("traces", "traces.jsonl")
DEMO_SCENARIOS = pack_file("traces", "scenarios.jsonl")
DEMO_RUBRIC = pack_file("rubrics", "cep.yaml")
SPACE = pack_file("rubrics", "space.yaml")
GATE = pack_file("rubrics", "gate.yaml")
DEMO_DB = Path(".chainjudge") / "demo.db"
SAMPLED_CRITERIA = ("offer_fits", "language_and_tone")  # the model criteria the scenarios can settle
DEMO_TEST_SHARE = 0.3  # of the ground-truth-labelled traces, sealed for testing the verifiers
RUN = "demo-cep"


def _sample_already_judged(traces, rubric, store, sample: int) -> bool:
    from chainjudge.core.engine import plan, split_done
    from chainjudge.core.judges.resolve import local_settings

    items = pick_sample(plan(traces, rubric, local_settings(batch=False), RUN), sample)
    return bool(items) and not split_done(items, store.stored_items(RUN), retry_errors=True)


def pick_sample(items: list[WorkItem], n: int) -> list[WorkItem]:
    """n decision-step items on criteria with ground truth, one trace each, alternating criteria."""
    pools = {c: [i for i in items if i.criteria[0].id == c and i.step.kind is StepKind.decision] for c in SAMPLED_CRITERIA}
    chosen: list[WorkItem] = []
    used: set[str] = set()
    while len(chosen) < n and any(pools.values()):
        for criterion in SAMPLED_CRITERIA:
            pool = pools[criterion]
            while pool and len(chosen) < n:
                item = pool.pop(0)
                if item.trace_id not in used:
                    chosen.append(item)
                    used.add(item.trace_id)
                    break
    return chosen


def expected_time(judged: list, items: int) -> str:
    """How long `items` more judgments take at the rate this judge showed on the sample (calls made here,
    one at a time: the local judge serves one call at a time)."""
    called = [j.latency_s for j in judged if not j.reused and j.latency_s > 0]
    if not called:
        return "time unknown: no judgment was timed"
    per = sum(called) / len(called)
    total = per * items
    hours, minutes = divmod(round(total / 60), 60)
    return f"~{per:.0f} s each as measured on the sample, so about " + (f"{hours} h {minutes} min" if hours else f"{minutes} min")


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def run_demo(out: Console, err: Console, judge_spec: str, api_base: str | None, sample: int, db: Path | None) -> int:
    """The demo's steps in order; 0 when all went well, 1 when judgments failed, 2 when the judge could not start."""
    from chainjudge.core.judges.resolve import JudgeSetupError
    from chainjudge.packs.cep.decisions import load_scenarios
    from chainjudge.packs.cep.groundtruth import ground_truth_labels
    from chainjudge.pipeline import load_traces
    from chainjudge.workflows.golive import attach_context

    db_path = db or DEMO_DB
    rubric = load_rubric(DEMO_RUBRIC)
    loaded = load_traces([DEMO_TRACES])
    scenarios = load_scenarios(DEMO_SCENARIOS)
    traces = _introduce(out, loaded, judge_spec, db_path, len(scenarios))
    store = Store(db_path)
    try:
        outcome = _judge_sample(out, traces, rubric, store, judge_spec, api_base, sample, db_path)
    except JudgeSetupError as exc:
        err.print(Text("error:", style="bold red"), f"{exc}")
        return 2
    attach_context(store, RUN, SPACE, DEMO_SCENARIOS)  # the run carries what it is judged against
    judgments = list(store.judgments(RUN))
    _print_checks(out, rubric, judgments)
    _print_decisions(out, traces, scenarios)
    p = outcome.progress
    out.print(
        f"4. local judge on the sample: {p.calls} judge calls made, {p.skipped} already in the store (a re-run makes none), {p.errors} "
        f"errors"
    )
    store.add_labels(ground_truth_labels(traces, scenarios))
    model = [j for j in judgments if j.judge_kind == "model" and j.verdict]
    _print_calibration(out, store, model)
    verifiers = _print_verifiers(out, store, db_path)
    _print_queue(out, store, db_path)
    _print_golive(out, store, db_path)
    _print_journeys(out)
    _print_next(out, traces, rubric, model, db_path, verifiers)
    store.close()
    return 1 if p.errors else 0


def _print_queue(out: Console, store: Store, db_path: Path) -> None:
    """Step 7: what the machine could not settle, queued for people."""
    queued = review.refresh_queue(store)
    kinds = ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in review.queue_counts(store).items())
    out.print(f"7. queued for people: {queued} items ({kinds}): chainjudge review --db {db_path}")


def _introduce(out: Console, loaded, judge_spec: str, db_path: Path, scenarios: int) -> list:
    """The header and step 1; returns the traces whose recording succeeded."""
    traces = [t for t in loaded.traces if t.metadata.get("status") == "ok"]
    models = Counter(str(t.metadata.get("agent_model")) for t in loaded.traces)
    dates = sorted(str(t.metadata.get("recorded_at"))[:10] for t in loaded.traces)
    adversarial = sum(1 for t in traces if t.metadata.get("perturbations"))
    out.print(
        Panel.fit(
            f"chainjudge demo: {len(loaded.traces)} recorded CEP agent traces ({adversarial} on adversarial scenarios), "
            f"recorded by {', '.join(models)} on {dates[0] if dates else '?'}..{dates[-1] if dates else '?'}\n"
            f"rubric {_shown(DEMO_RUBRIC)}; judge: {judge_spec}; store: {db_path}",
            title="chainjudge",
        )
    )
    failed = len(loaded.traces) - len(traces)
    out.print(
        f"1. ingested {len(traces)} traces ({failed} recordings marked failed, {len(loaded.errors)} bad records), "
        f"{scenarios} scenarios with expected actions"
    )
    return traces


def _judge_sample(out: Console, traces, rubric, store, judge_spec: str, api_base: str | None, sample: int, db_path: Path):
    """The deterministic checks on everything and the model on a small sample (no server on a re-run)."""
    from chainjudge.core.engine import NoCallJudge
    from chainjudge.core.judges.resolve import local_settings, open_judge
    from chainjudge.core.offline import quiet_libraries
    from chainjudge.core.progress import live_progress
    from chainjudge.pipeline import judge_traces

    # one call per criterion: the sample alternates the criteria the scenarios' ground truth can settle
    quiet_libraries()
    opened: AbstractContextManager[Any] = open_judge(judge_spec, api_base=api_base, batch=False, log_dir=db_path.parent)
    if judge_spec == "local" and not api_base and _sample_already_judged(traces, rubric, store, sample):
        opened = nullcontext(
            (local_settings(batch=False), NoCallJudge("local (not started)", "the sample is already in the store"))
        )  # a re-run: no server to start
        out.print("   every sampled judgment is already in the store; the local judge is not started")
    with opened as (settings, judge):
        with live_progress(out, f"   judging a sample of {sample} decisions with {settings.model.split('/')[-1]}") as (
            on_start,
            on_progress,
        ):
            return judge_traces(
                traces,
                rubric,
                settings,
                judge,
                store,
                RUN,
                sources=[str(DEMO_TRACES)],
                concurrency=1 if judge_spec == "local" else 8,
                on_start=on_start,
                on_progress=on_progress,
                select=lambda items: pick_sample(items, sample),
            )


def _print_checks(out: Console, rubric, judgments: list) -> None:
    checks = [j for j in judgments if j.judge_kind == "check"]
    table = Table("policy check (no model, all decisions)", "severity", "pass rate", "failed", title="2. deterministic policy checks")
    for criterion in (c for c in rubric.criteria if c.deterministic):
        mine = [j for j in checks if j.criterion_id == criterion.id and j.passed is not None]
        failed_n = sum(1 for j in mine if not j.passed)
        table.add_row(criterion.id, criterion.severity, f"{(len(mine) - failed_n) / len(mine):.0%}" if mine else "-", str(failed_n))
    out.print(table)


def _print_decisions(out: Console, traces, scenarios) -> None:
    from chainjudge.packs.cep.decisions import score

    report = score(traces, scenarios)
    o = report.overall
    out.print(
        f"3. decision correctness against the expected actions: {o.accuracy:.0%} ({o.correct}/{o.total}), "
        f"95% interval [{o.low:.0%}, {o.high:.0%}]; by field: "
        + ", ".join(f"{f} {r.accuracy:.0%}" for f, r in report.field_accuracy.items())
    )
    by = Table("by", "value", "accuracy", "95% interval", "n")
    for dimension in ("segment", "perturbation"):
        for value, rate in report.by.get(dimension, {}).items():
            by.add_row(dimension, value, f"{rate.accuracy:.0%}", f"[{rate.low:.0%}, {rate.high:.0%}]", str(rate.total))
    out.print(by)


def _print_calibration(out: Console, store, model: list) -> None:
    """Step 5: the sampled model judgments against the scenarios' ground truth, with why untrusted."""
    from chainjudge.analysis.calibrate import agreement
    from chainjudge.analysis.figures import format_estimate
    from chainjudge.analysis.reference import judgment_labels
    from chainjudge.core.schema import TrustPolicy
    from chainjudge.packs.cep.groundtruth import ANNOTATOR

    calib = Table(
        "criterion",
        "judged",
        "judge = ground truth",
        "always-pass baseline",
        "trust",
        title="5. the model judge against the scenarios' ground truth",
    )
    reasons: list[str] = []
    for criterion in SAMPLED_CRITERIA:
        mine = [j for j in model if j.criterion_id == criterion]
        reference = store.labels(criterion=criterion, annotators=[ANNOTATOR])
        if not mine or not reference:
            continue
        candidate = judgment_labels(mine, "local-judge", criterion)
        judged_keys = {(j.trace_id, j.step_ref) for j in mine}
        on_items = [label for label in reference if (label.trace_id, label.step_key) in judged_keys]
        r = agreement(on_items, candidate, ANNOTATOR, "local-judge", criterion, bootstrap=200)
        base = {b.name: b for b in r.baselines}["always pass"].step_accuracy
        calib.add_row(
            criterion,
            str(r.paired_items),
            format_estimate(r.step_accuracy, TrustPolicy().min_figure_items, 2),
            "-" if base is None else f"{base:.0%}",
            f"{r.trust}" if r.trust != "trusted" else r.trust,
        )
        reasons.append(f"   {criterion}: {r.trust} because {r.trust_basis}")
    out.print(calib)
    for line in reasons:
        out.print(line, highlight=False)


def _print_verifiers(out: Console, store, db_path: Path) -> list:
    """Step 6: per criterion the ground truth settles, a verifier learned from the tune side of a sealed
    split (tasks held out together), the policy checks' outcomes offered as features; what it may decide
    with a guarantee, or why it decides nothing yet.  Returns the verifiers that decide something."""
    from chainjudge.analysis.verifier import oof_kappa_text
    from chainjudge.workflows.splits import SplitError, make_split
    from chainjudge.workflows.verifier import VerifierError, train

    try:
        make_split(store, DEMO_TEST_SHARE, seed=0)  # places newly labelled traces; placed ones never move
    except SplitError:
        pass  # a split someone made with other settings stays as it is
    table = Table(
        "criterion",
        "tune labels (failing)",
        "out of fold (tasks held out)",
        "decides with a guarantee",
        title="6. verifiers learned from the ground truth's tune side (the test side stays sealed)",
    )
    deciding = []
    for criterion in SAMPLED_CRITERIA:
        try:
            verifier, _ = train(store, f"cep-{criterion}", criterion, from_run=RUN)
        except VerifierError as exc:
            table.add_row(criterion, "-", Text(str(exc)), "nothing (not stored)")
            continue
        table.add_row(criterion, f"{verifier.tune_items} ({verifier.tune_failing})", oof_kappa_text(verifier), _decides(verifier))
        if verifier.selective.confidence is not None:
            deciding.append(verifier)
    out.print(table)
    out.print(
        f"   held out: chainjudge verifier test cep-offer_fits --db {db_path} (each look at the test side is counted)", highlight=False
    )
    return deciding


def _decides(verifier) -> str:
    """What the verifier may decide with its guarantee, or how many decided tune steps one would take."""
    from chainjudge.analysis.selective import labels_for_a_guarantee

    sel = verifier.selective
    if sel.confidence is not None:
        return f"{sel.decided_share:.0%} of tune steps at >= {sel.target:.0%} agreement (risk {sel.risk:g})"
    return f"nothing yet: a {sel.target:.0%} guarantee takes >= {labels_for_a_guarantee(sel.target, sel.risk)} decided tune steps"


def _print_golive(out: Console, store, db_path: Path) -> None:
    """Step 8: the go-live score with unknown terms marked, untrusted judges, and the bundled gate's verdict."""
    import yaml

    from chainjudge.analysis.golive import gate_reasons
    from chainjudge.core.schema import GatePolicy
    from chainjudge.workflows.golive import gather_evidence

    policy = GatePolicy.model_validate(yaml.safe_load(GATE.read_text(encoding="utf-8")) or {})
    evidence = gather_evidence(store, RUN, catalogue_path=Path("failure-modes.yaml"), policy=policy)
    sc = evidence.score
    out.print(
        f"8. go-live confidence: {sc.score:.2f} (range {sc.low:.2f}-{sc.high:.2f}) = "
        + ", ".join(f"{t.name} {t.value:.2f}" + ("" if t.known else " (unknown)") for t in sc.terms)
        + f"; coverage {evidence.coverage.covered:.0%} of segment x market cells",
        highlight=False,
    )
    untrusted = [r.criterion for r in evidence.criteria if not r.trusted]
    if untrusted:
        out.print(f"   untrusted judges (their verdicts are not evidence): {', '.join(untrusted)}", highlight=False)
    reasons = gate_reasons(evidence, policy)
    out.print(f"   gate ({_shown(GATE)}): " + ("PASS" if not reasons else "FAIL"), highlight=False)
    for reason in reasons:
        out.print(f"   - {reason}", highlight=False)
    out.print(
        f"   full report: chainjudge report {RUN} --db {db_path} --out report/   ·   CI: chainjudge gate {RUN} --db {db_path}",
        highlight=False,
    )


def _print_journeys(out: Console) -> None:
    """Step 9: sequences of decisions: generated journeys run by the rule-based example agent against the
    simulated customer, checked over the whole journey (seconds, no model)."""
    from chainjudge.packs.cep.journey_findings import evaluate_all, summarize
    from chainjudge.packs.cep.journey_generator import generate_journeys
    from chainjudge.packs.cep.journey_recording import record_journeys
    from chainjudge.packs.cep.recording import LLMConfig
    from chainjudge.packs.cep.rule_agent import agent

    journeys = generate_journeys(seed=7)
    outcomes, _ = evaluate_all(record_journeys(journeys, agent, LLMConfig(model="none"), seed=1))
    s = summarize(outcomes)
    out.print(
        f"9. journeys: {s.journeys} generated journeys (3 kinds x 12 perturbations, and risky combinations; 4 decisions "
        f"over 6 days each) run by the rule-based example agent against a simulated customer: {s.failed} failed "
        f"({s.failure_rate:.0%}, Wilson [{s.failure_low:.0%}, {s.failure_high:.0%}]); findings: "
        + (", ".join(f"{k} {v}" for k, v in s.by_check.items()) or "none")
        + f"; simulator inconsistencies {s.simulator_inconsistent}/{s.journeys}",
        highlight=False,
    )
    out.print(
        "   the same with your agent: chainjudge journeys generate && chainjudge record --agent MODULE:FUNC --journeys journeys.jsonl; "
        "where failures hide: chainjudge journeys search --agent MODULE:FUNC",
        highlight=False,
    )


def _print_next(out: Console, traces, rubric, model: list, db_path: Path, verifiers: list) -> None:
    out.print(
        Panel(
            "The local judge is a 1.5B model quantised to 4 bits: on human-labelled steps it scored BELOW a judge that "
            "calls everything correct. Its criteria stay untrusted until calibration says otherwise; the policy criteria "
            "are carried by the deterministic checks above, and disagreements go to people.",
            title="read this",
            border_style="yellow",
            width=min(100, out.width),
        ),
        soft_wrap=False,
    )  # a wrapped box, also when piped
    plan_size = sum(1 for t in traces for s in t.steps for c in rubric.criteria if s.kind in c.applies_to and not c.deterministic)
    out.print(
        f"results: {db_path}   (chainjudge show {RUN} --db {db_path} · chainjudge decisions {_shown(DEMO_TRACES)} "
        f"--expected {_shown(DEMO_SCENARIOS)})\n"
        f"judge the rest ({plan_size} model work items, {expected_time(model, plan_size)}): chainjudge judge {_shown(DEMO_TRACES)} "
        f"--rubric {_shown(DEMO_RUBRIC)} --db {db_path} --run cep-full --judge local   "
        "(or --judge openai/gpt-4o-mini with OPENAI_API_KEY set; Ctrl-C and re-run resumes)",
        highlight=False,
    )
    for verifier in verifiers:  # the cascade: the verifier decides where it may, the model gets its abstentions
        out.print(
            f"cascade for {verifier.criterion}: add --verifier {verifier.name} (it decides "
            f"{verifier.selective.decided_share:.0%} of steps in milliseconds; the model judges the rest)",
            highlight=False,
        )
    if not verifiers:
        out.print(
            "no verifier decides anything yet, so every model item goes to the model: label more steps "
            "(chainjudge review) and the demo trains them again",
            highlight=False,
        )
