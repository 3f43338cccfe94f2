"""Two walks through chainjudge, and how many times each re-enters a module (issue #30's measure of how
tangled the layers are): (1) a trace file to the gate: `judge` with a checks-only rubric, then `gate`;
(2) an adjudication to the verifier: a reviewer's label through the review queue, then `verifier train`.

Every Python call is watched (sys.setprofile); the calls inside chainjudge form a sequence of modules, and a
re-entry is a call into a module that the walk had already left for another chainjudge module.  A walk that
goes CLI -> workflow -> analysis -> store and back re-enters little; one that bounces between the CLI and
the library many times re-enters a lot.  Run it on two checkouts to compare:

    python bench/walks.py                 # this checkout
    python bench/walks.py /path/to/other  # another checkout of chainjudge (its modules are imported)

Prints per walk: chainjudge calls, distinct modules, re-entries, and the modules re-entered most.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


class Walk:
    """The chainjudge modules calls enter, in order, and the re-entries among them."""

    def __init__(self) -> None:
        self.calls = 0
        self.entered: Counter[str] = Counter()
        self.reentries: Counter[str] = Counter()
        self._current: str | None = None
        self._left: set[str] = set()
        self._package = str(ROOT / "chainjudge")

    def __call__(self, frame, event, arg) -> None:  # noqa: ANN001 - the profiler's signature
        if event != "call" or not frame.f_code.co_filename.startswith(self._package):
            return
        module = frame.f_globals.get("__name__", "?")
        self.calls += 1
        if module != self._current:
            if module in self._left:
                self.reentries[module] += 1
            if self._current is not None:
                self._left.add(self._current)
            self._current = module
            self.entered[module] += 1


def watched(run) -> Walk:
    walk = Walk()
    sys.setprofile(walk)
    try:
        run()
    finally:
        sys.setprofile(None)
    return walk


def trace_to_gate(folder: Path) -> Walk:
    from typer.testing import CliRunner

    from chainjudge.cli import app

    traces = folder / "t.jsonl"
    steps = [{"index": 0, "ref": "0", "kind": "user", "text": "hi"}, {"index": 1, "ref": "1", "kind": "decision", "text": "HELLO"}]
    traces.write_text("".join(json.dumps({"id": f"t{i}", "steps": steps, "metadata": {"channel": "email"}}) + "\n" for i in range(20)))
    rubric = folder / "r.yaml"
    rubric.write_text(
        "id: r\ncriteria:\n  - id: short\n    question: short?\n    applies_to: [decision]\n    severity: critical\n"
        "    assertion: {kind: step_count, max: 3}\n"
    )
    space = folder / "space.yaml"
    space.write_text("id: s\ngrid: [channel]\ndimensions:\n  channel:\n    field: channel\n    values: [email]\n")
    db = str(folder / "s.db")
    runner = CliRunner()

    def run() -> None:
        judged = runner.invoke(app, ["judge", str(traces), "--rubric", str(rubric), "--db", db, "--run", "r", "--space", str(space)])
        gated = runner.invoke(app, ["gate", "r", "--db", db])
        assert judged.exit_code in (0, 1) and gated.exit_code in (0, 1), judged.output + gated.output

    return watched(run)


def adjudication_to_verifier(folder: Path) -> Walk:
    import random

    from typer.testing import CliRunner

    from chainjudge.cli import app
    from chainjudge.core.schema import Label, Trace
    from chainjudge.core.store import Store
    from chainjudge.review import queue as review

    db = str(folder / "v.db")
    rng = random.Random(1)
    with Store(db) as store:
        traces, labels = [], []
        for i in range(60):
            fails = i % 3 == 0
            text = ("I am not sure, maybe" if fails else "The answer is 42 because the table says so") + " " * rng.randint(0, 5)
            steps = [{"index": 0, "ref": "0", "kind": "decision", "text": text}]
            if fails:  # a longer trace: the step-count check fails it
                steps.append({"index": 1, "ref": "1", "kind": "message", "text": "and more"})
            traces.append(Trace(id=f"t{i}", steps=steps, metadata={"task_id": f"task{i // 2}"}))
            disagrees = i % 5 == 1  # now and then people and the check disagree: the queue has work
            value = "fail" if fails != disagrees else "pass"
            labels.append(Label(trace_id=f"t{i}", step_ref="0", criterion="c", value=value, annotator="ref", kind="ground-truth"))
        store.save_traces(traces)
        store.add_labels(labels)
    runner = CliRunner()
    traces_file = folder / "v.jsonl"
    traces_file.write_text("".join(t.model_dump_json() + "\n" for t in traces))
    rubric = folder / "c.yaml"
    rubric.write_text(
        "id: c\ncriteria:\n  - id: c\n    question: sure?\n    applies_to: [decision]\n    assertion: {kind: step_count, max: 1}\n"
    )
    judged = runner.invoke(app, ["judge", str(traces_file), "--rubric", str(rubric), "--db", db, "--run", "checks"])
    split = runner.invoke(app, ["labels", "split", "--test-share", "0.3", "--seed", "1", "--db", db])
    assert judged.exit_code in (0, 1) and split.exit_code == 0, judged.output + split.output

    def run() -> None:
        with Store(db) as store:
            review.refresh_queue(store)
            item = review.claim_next(store, "review:ana")
            assert item is not None, "nothing queued for a person"
            review.adjudicate(store, item, "review:ana", "fail", "unsure answers fail")
        trained = runner.invoke(app, ["verifier", "train", "--criterion", "c", "--name", "v", "--db", db])
        assert trained.exit_code in (0, 1, 2), trained.output

    return watched(run)


def main() -> None:
    from chainjudge.core import offline

    offline.apply()
    for name, walk_of in (("a trace file to the gate", trace_to_gate), ("an adjudication to the verifier", adjudication_to_verifier)):
        with tempfile.TemporaryDirectory() as folder:
            try:
                walk = walk_of(Path(folder))
            except Exception as exc:  # noqa: BLE001 - an older checkout may lack a step; say so and go on
                print(f"{name}: could not run on {ROOT} ({type(exc).__name__}: {exc})")
                continue
        top = ", ".join(f"{m} {n}" for m, n in walk.reentries.most_common(5))
        edge = {m: n for m, n in walk.reentries.items() if m.startswith(("chainjudge.cli", "chainjudge.ui"))}
        edge_modules = sorted(m for m in walk.entered if m.startswith(("chainjudge.cli", "chainjudge.ui")))
        print(
            f"{name} ({ROOT.name}): {walk.calls} chainjudge calls, {len(walk.entered)} modules, {sum(walk.reentries.values())} "
            f"re-entries (most: {top}); command-line modules entered: {len(edge_modules)}, re-entered {sum(edge.values())} times "
            f"({', '.join(f'{m} {n}' for m, n in sorted(edge.items(), key=lambda kv: -kv[1])) or 'none'})"
        )


if __name__ == "__main__":
    main()
