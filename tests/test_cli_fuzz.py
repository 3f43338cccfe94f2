"""Every command of the CLI, fed what users type by mistake and what attackers send: missing, empty,
binary, huge, deeply nested and wrong-type files, and markup-like strings.  The only acceptable outcomes
are a result, or an error line and a non-zero exit: never a traceback, never the guard's "unexpected"
exit code 3 (a bug that escaped as an exception)."""

from __future__ import annotations

import itertools
import json

import pytest
import typer
from conftest import ROOT
from typer.testing import CliRunner

from chainjudge.cli import app
from chainjudge.cli.guard import INTERNAL_EXIT
from chainjudge.core.judges.resolve import JudgeSettings
from chainjudge.core.schema import Run
from chainjudge.core.store import Store

cli = CliRunner()
RUBRIC = str(ROOT / "rubrics" / "step-quality.yaml")
UNREACHABLE = "http://127.0.0.1:9/v1"  # refused at once: nothing is judged, nothing waits
MARKUP = "[/]x[link=http://example.invalid]y[/link][bold]"

CONTENTS = {
    "missing": None,
    "empty": b"",
    "binary": bytes(range(256)) * 64 + b"\xff\xfe\x00",
    "huge": b"a" * 3_000_000,
    "nested": b"[" * 100_000 + b"]" * 100_000,
    "wrong_type": b"12345\n",
    "markup": MARKUP.encode() + b"\n",
}
SUFFIXES = {"F": ".jsonl", "Y": ".yaml", "C": ".csv", "P": ".parquet", "J": ".json"}


def commands() -> list[str]:
    """Every leaf command's path ("labels import"), read from the app itself."""
    found = []

    def walk(command, path):
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, [*path, name])
        else:
            found.append(" ".join(path))

    walk(typer.main.get_command(app), [])
    return sorted(found)


# each command with its hostile slots: {F}, {Y}, {C}, {P}, {J} become a fuzz file of that kind, {S} a
# markup-like string; {DB} is a store holding one run named like {S}; {X} is like {J} but "missing" and
# "empty" give a folder there (a missing or empty store is a new one: these commands would then serve)
INVOCATIONS: dict[str, list[str]] = {
    "align": ["align --rubric {Y} --name {S} --judge openai/x --api-base " + UNREACHABLE + " --db {DB}"],
    "judge": [
        "judge {F} --rubric " + RUBRIC + " --judge openai/x --api-base " + UNREACHABLE + " --run {S} --db {DB}",
        "judge " + RUBRIC + " --rubric {Y} --judge openai/x --api-base " + UNREACHABLE + " --db {DB}",
        "judge {F} --rubric " + RUBRIC + " --judge openai/x --api-base " + UNREACHABLE + " --expected {F} --db {DB}",
    ],
    "runs": ["runs --db {J}"],
    "show": ["show {S} --db {DB}", "show x --db {J}"],
    "demo": ["demo --db {X} --judge openai/x --api-base " + UNREACHABLE + " --sample 0"],
    "export": [
        "export {S} --format csv --out {OUT} --db {DB}",
        "export {S} --format otel --endpoint " + UNREACHABLE + " --header {S} --db {DB}",
    ],
    "collect": ["collect --listen {S} --db {DB}", "collect --listen 127.0.0.1:0 --db {X}"],
    "agreement": ["agreement --reference {S} --against {S} --db {DB}"],
    "panel": ["panel {S} --criterion {S} --db {DB}"],
    "passk": ["passk {F}", "passk {J}"],
    "review": ["review --db {X}", "review --space {Y} --db {DB}", "review --ope-value {J} --db {DB}"],
    "cluster": ["cluster {S} --catalogue {Y} --db {DB}"],
    "decisions": ["decisions {F} --expected {F} --db {DB}"],
    "record": [
        "record --agent {S} --scenarios {F} --out {OUT} --api-base " + UNREACHABLE + " --limit 1",
        "record --agent examples.journey_agent:agent --journeys {F} --model none --out {OUT} --limit 1",
        "record --agent examples.journey_agent:agent --journeys {F} --model none --response-model {Y} --out {OUT} --limit 1",
    ],
    "outcomes import": [
        "outcomes import {C} --mapping " + str(ROOT / "examples" / "cdp-sends-mapping.yaml") + " --out {OUT} --states {OUTDIR} --db {DB}",
        "outcomes import {P} --mapping {Y} --out {OUT} --db {DB}",
    ],
    "journeys generate": ["journeys generate --out {OUT} --per-cell 1 --no-combinations"],
    "journeys check": ["journeys check {F}", "journeys check {F} --json"],
    "journeys import": [
        "journeys import {C} --states {F} --mapping " + str(ROOT / "examples" / "cdp-events-mapping.yaml") + " --out {OUT} --db {DB}",
        "journeys import {P} --states {F} --mapping {Y} --out {OUT} --db {DB}",
    ],
    "journeys search": ["journeys search --agent examples.journey_agent:agent --budget 2 --out {F}"],
    "journeys fit-responses": ["journeys fit-responses {C} --out {OUT}", "journeys fit-responses {F} --out {OUT}"],
    "coverage": ["coverage {S} --space {Y} --expected {F} --db {DB}"],
    "report": [
        "report {S} --ope-value {J} --db {DB} --out {OUTDIR}",
        "report {S} --out {OUTDIR} --space {Y} --policy {Y} --catalogue {Y} --db {DB}",
    ],
    "gate": ["gate {S} --policy {Y} --space {Y} --expected {F} --catalogue {Y} --db {DB}"],
    "attribute": [
        "attribute --run {S} --db {DB}",
        "attribute --traces {F} --db {X}",
        "attribute --judge openai/x --api-base " + UNREACHABLE + " --db {DB}",
    ],
    "ope": ["ope {C} --policy {Y} --action {S} --out {OUT}", "ope {F} --policy {J}", "ope {P} --policy {Y} --by {S}"],
    "probe": ["probe {S} --judge openai/x --api-base " + UNREACHABLE + " --db {DB}"],
    "traces show": ["traces show {F}", "traces show {J}"],
    "traces list": ["traces list --db {J}"],
    "schema trace": ["schema trace"],
    "schema rubric": ["schema rubric"],
    "rubric check": ["rubric check {Y}"],
    "labels import": ["labels import {C} --db {DB}", "labels import {F} --annotator {S} --db {DB}"],
    "labels list": ["labels list --db {J}"],
    "labels split": ["labels split --db {J}"],
    "labels agreement": ["labels agreement --criterion {S} --db {DB}"],
    "scenarios import": [
        "scenarios import {C} --mapping {Y} --out {OUT} --db {DB}",
        "scenarios import {P} --mapping " + str(ROOT / "examples" / "history-mapping.yaml") + " --out {OUT} --db {DB}",
    ],
    "scenarios agreement": ["scenarios agreement --db {J}"],
    "scenarios annotated": ["scenarios annotated --out {OUTDIR} --db {DB}"],
    "modes rename": ["modes rename {S} {S} --catalogue {Y}"],
    "modes status": ["modes status {S} {S} --catalogue {Y}"],
    "modes merge": ["modes merge {S} {S} --catalogue {Y}"],
    "modes split": ["modes split {S} --run {S} --catalogue {Y} --db {DB}"],
    "reviewers add": ["reviewers add {S} --db {DB}"],
    "reviewers list": ["reviewers list --db {J}"],
    "reviewers revoke": ["reviewers revoke {S} --db {DB}"],
    "db migrate": ["db migrate --db {J}"],
    "db copy": ["db copy {J} {OUT}", "db copy {DB} {J}"],
    "regress add": ["regress add {S} --catalogue {Y} --suite {OUTDIR} --db {DB}"],
    "verifier train": [
        "verifier train --criterion {S} --name {S} --traces {F} --from-run {S} --db {DB}",
        "verifier train --criterion step --name x --db {X}",
    ],
    "verifier test": ["verifier test {S} --traces {F} --db {DB}", "verifier test x --db {X}"],
    "verifier list": ["verifier list --db {X}"],
    "regress run": ["regress run --judge openai/x --api-base " + UNREACHABLE + " --suite {OUTDIR} --traces {F} --db {DB}"],
}


def test_every_command_is_fuzzed():
    assert sorted(INVOCATIONS) == commands()


@pytest.fixture(scope="module")
def store_with_a_markup_run(tmp_path_factory):
    db = tmp_path_factory.mktemp("fuzz") / "s.db"
    with Store(db) as store:
        store.save_run(Run(name=MARKUP, rubric_id="r", rubric_hash="h", judge=JudgeSettings(model="openai/x")))
    return db


def _fill(template: str, kind: str, folder, db) -> list[str]:
    content = CONTENTS[kind]
    args = []
    for i, token in enumerate(template.split(" ")):
        if token == "{X}":
            token = "{J}" if content else str(folder)  # an empty file is a valid new SQLite store too
        for slot, suffix in SUFFIXES.items():
            if token == "{" + slot + "}":
                path = folder / f"in{i}{suffix}"
                if content is not None:
                    path.write_bytes(content)
                token = str(path)
        token = (
            token.replace("{S}", MARKUP if kind == "markup" else f"x{kind}")
            .replace("{DB}", str(db))
            .replace("{OUTDIR}", str(folder / "outdir"))
            .replace("{OUT}", str(folder / "out.jsonl"))
        )
        args.append(token)
    return args


CASES = [(template, kind) for template in itertools.chain.from_iterable(INVOCATIONS.values()) for kind in CONTENTS]


@pytest.mark.parametrize("template, kind", CASES, ids=[f"{t.split(' {')[0].split(' --')[0]}-{k}-{i}" for i, (t, k) in enumerate(CASES)])
def test_hostile_input_gets_a_result_or_one_error_line(template, kind, tmp_path, store_with_a_markup_run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "s.db"
    with Store(store_with_a_markup_run) as source:
        source.copy_to(db)
    result = cli.invoke(app, _fill(template, kind, tmp_path, db), catch_exceptions=True)
    assert "Traceback (most recent call last)" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code != INTERNAL_EXIT, result.output
    if result.exit_code != 0:
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) <= 1, result.output
    assert json.dumps(result.output)  # printable
