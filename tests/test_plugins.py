"""Packs, trace adapters and checks are plug-ins: a tiny second pack, installed with pip from a temporary
folder (into a target directory, not into this environment), is found through its entry points and
used by the real `chainjudge` command: its adapter reads its format, its check judges, its pack scores
decisions, and its command, review tab and own store table arrive through its hooks. The CEP pack registers
the same way (pyproject.toml), and the core imports nothing from it."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import fake_judge_args

from chainjudge.core.store import Store
from chainjudge.testing.fakejudge import FakeJudgeServer

ROOT = Path(__file__).resolve().parents[1]

TINY = '''
"""A tiny pack: one trace format, one check, expected actions as 'trace_id=answer' lines."""
from chainjudge.core.checks import CheckResult
from chainjudge.core.schema import DecisionReport, Rate, Trace

NAME = "tinylog"
EXPECTS = 'an object with "tinylog": [lines] and "id"'


def sniff(record):
    return isinstance(record, dict) and isinstance(record.get("tinylog"), list)


def parse(record, source, label):
    steps = [{"index": i, "ref": str(i), "kind": "decision" if i == len(record["tinylog"]) - 1 else "reasoning", "text": line}
             for i, line in enumerate(record["tinylog"])]
    return Trace(id=record["id"], steps=steps, source=source, format=NAME)


def no_shouting(trace, step):
    loud = step.text.isupper()
    return CheckResult(not loud, "shouted at the customer" if loud else "calm")


class TinyPack:
    name = "tiny"
    description = "answers checked against trace_id=answer lines"

    def score_decisions(self, traces, expected_text):
        lines = [l for l in expected_text.splitlines() if l.strip()]
        if not lines or not all(l.startswith("tiny:") for l in lines):
            return None
        wanted = dict(l[5:].split("=", 1) for l in lines)
        right = sum(1 for t in traces if t.steps and t.steps[-1].text == wanted.get(t.id))
        rate = Rate(correct=right, total=len(traces), accuracy=right / len(traces), low=0.0, high=1.0)
        return DecisionReport(overall=rate, by={}, field_accuracy={}, mismatches=[], missing_decision=[], unknown_scenario=[])


    def register_commands(self, app):
        @app.command("tiny-count")
        def tiny_count(path: str) -> None:
            """Count the tinylog lines in PATH."""
            import json as _json

            print(f"{sum(len(r['tinylog']) for r in _json.load(open(path)))} tiny lines")

    def review_tabs(self):
        from chainjudge.core.plugins import ReviewTab

        return [ReviewTab("Tiny", lambda store, reviewer, still_signed_in: None)]

    def migrations(self):
        return [("001_tally", "CREATE TABLE tiny_tally (trace_id TEXT PRIMARY KEY, lines INTEGER NOT NULL)")]


PACK = TinyPack()
'''

PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "chainjudge-tiny-pack"
version = "0.1.0"

[tool.setuptools]
py-modules = ["tinypack"]

[project.entry-points."chainjudge.packs"]
tiny = "tinypack:PACK"

[project.entry-points."chainjudge.adapters"]
tinylog = "tinypack"

[project.entry-points."chainjudge.checks"]
no_shouting = "tinypack:no_shouting"
"""


def install_tiny_pack(tmp_path: Path) -> Path:
    source = tmp_path / "tiny-src"
    source.mkdir()
    (source / "tinypack.py").write_text(TINY)
    (source / "pyproject.toml").write_text(PYPROJECT)
    target = tmp_path / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert list(target.glob("chainjudge_tiny_pack-*.dist-info/entry_points.txt"))
    return target


def chainjudge(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "chainjudge.cli", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd)


def test_a_second_pack_installed_from_a_folder_is_used(tmp_path):
    site = install_tiny_pack(tmp_path)
    traces = tmp_path / "calls.json"
    traces.write_text(
        json.dumps([{"id": "c1", "tinylog": ["greet", "hello, how can I help?"]}, {"id": "c2", "tinylog": ["angry user", "CALM DOWN"]}])
    )
    shown = chainjudge(site, "traces", "show", traces, cwd=tmp_path)
    assert shown.returncode == 0 and "tinylog" in shown.stdout, shown.stdout + shown.stderr
    rubric = tmp_path / "tiny.yaml"
    rubric.write_text(
        yaml.safe_dump(
            {
                "id": "tiny",
                "criteria": [
                    {"id": "no_shouting", "question": "Calm?", "applies_to": ["decision"], "check": "no_shouting", "severity": "critical"}
                ],
            }
        )
    )
    expected = tmp_path / "expected.txt"
    expected.write_text("tiny:c1=hello, how can I help?\ntiny:c2=I understand.\n")
    db = tmp_path / "t.db"
    with FakeJudgeServer() as judge:
        judged = chainjudge(
            site,
            "judge",
            traces,
            "--rubric",
            rubric,
            "--judge",
            "openai/fake",
            "--api-base",
            judge.url,
            "--db",
            db,
            "--run",
            "r",
            "--expected",
            expected,
            cwd=tmp_path,
        )
        assert judged.returncode == 0, judged.stdout + judged.stderr
        assert judge.requests == []  # a check: no model
    shown = chainjudge(site, "show", "r", "--db", db, cwd=tmp_path)
    assert "no_shouting" in shown.stdout and "50.0%" in shown.stdout, shown.stdout
    report = chainjudge(site, "report", "r", "--db", db, "--out", tmp_path / "rep", cwd=tmp_path)
    assert report.returncode == 0, report.stdout + report.stderr
    decisions = json.loads((tmp_path / "rep" / "report.json").read_text())["decisions"]
    assert decisions["overall"]["correct"] == 1 and decisions["overall"]["total"] == 2  # scored by the tiny pack
    counted = chainjudge(site, "tiny-count", traces, cwd=tmp_path)  # a command the pack registered
    assert counted.returncode == 0 and "4 tiny lines" in counted.stdout, counted.stdout + counted.stderr
    listed = chainjudge(site, "--help", cwd=tmp_path)
    assert "tiny-count" in listed.stdout and "scenarios" in listed.stdout  # beside the CEP pack's commands
    tabs = subprocess.run(
        [sys.executable, "-c", "from chainjudge.core.plugins import review_tabs; print([t.title for t in review_tabs()])"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
        cwd=tmp_path,
    )
    assert "'Ground truth', 'Tiny'" in tabs.stdout, tabs.stdout + tabs.stderr  # the review app's tabs, pack by pack
    migrated = chainjudge(site, "db", "migrate", "--db", tmp_path / "team.db", cwd=tmp_path)  # its own store table
    assert migrated.returncode == 0 and "packs' tables: cep, tiny" in migrated.stdout, migrated.stdout + migrated.stderr
    with Store(tmp_path / "team.db") as store:
        assert "tiny:001_tally" in store.migrations() and store.query("SELECT COUNT(*) FROM tiny_tally") == [(0,)]


def test_without_the_pack_its_check_is_unknown_not_a_crash(tmp_path, fake_judge):
    from typer.testing import CliRunner

    from chainjudge.cli import app

    traces = tmp_path / "t.jsonl"
    traces.write_text(json.dumps({"id": "x", "steps": [{"index": 0, "ref": "0", "kind": "decision", "text": "HI"}]}) + "\n")
    rubric = tmp_path / "tiny.yaml"
    rubric.write_text(
        yaml.safe_dump(
            {"id": "tiny", "criteria": [{"id": "no_shouting", "question": "Calm?", "applies_to": ["decision"], "check": "no_shouting"}]}
        )
    )
    result = CliRunner().invoke(
        app,
        fake_judge_args(traces, rubric, fake_judge.url, tmp_path / "x.db", "r"),
    )
    assert result.exit_code == 0  # stored as a harness error, counted as unscored
    from chainjudge.core.store import Store

    with Store(tmp_path / "x.db") as store:
        (j,) = list(store.judgments("r"))
    assert j.error.startswith("unknown_check: no check named 'no_shouting'") and "suppression_honoured" in j.error


def test_nothing_outside_the_pack_imports_the_cep_pack():
    """Not the core, and not the edges either: the CLI and the review app get the pack's commands and tabs
    through its hooks, like any third party's."""
    offenders = []
    for path in (ROOT / "chainjudge").rglob("*.py"):
        relative = path.relative_to(ROOT / "chainjudge")
        if relative.parts[0] == "packs":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            if any(n == "chainjudge.packs.cep" or n.startswith("chainjudge.packs.cep.") for n in names):
                offenders.append(f"{relative}: {names}")
    assert offenders == []
