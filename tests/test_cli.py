"""The `chainjudge` command as a user types it (in-process through typer's runner)."""

import csv
import io
import json
import re

import jsonschema
import pytest
from conftest import BUNDLED_SAMPLE, ROOT, fake_judge_args
from typer.testing import CliRunner

from chainjudge.cli import app
from chainjudge.core.store import Store

RUBRIC = ROOT / "rubrics" / "step-quality.yaml"


@pytest.fixture
def cli():
    return CliRunner()


@pytest.fixture
def two_traces_and_a_bad_line(tmp_path):
    lines = BUNDLED_SAMPLE.read_text().splitlines()[:2]
    path = tmp_path / "traces.jsonl"
    path.write_text(lines[0] + "\n" + '{"messages": [' + "\n" + lines[1] + "\n")
    return path


def judge_args(traces, server, db, *extra):
    return fake_judge_args(traces, RUBRIC, server.url, db, "t", *extra)


def test_bad_record_named_others_judged_exit_nonzero(cli, fake_judge, tmp_path, two_traces_and_a_bad_line):
    db = tmp_path / "cj.db"
    result = cli.invoke(app, judge_args(two_traces_and_a_bad_line, fake_judge, db))
    assert result.exit_code == 1, result.output
    assert f"{two_traces_and_a_bad_line}: record line 2: invalid JSON" in result.output
    assert "1 record(s) skipped" in result.output
    with Store(db) as store:
        judged_traces = {j.trace_id for j in store.judgments("t")}
    assert len(judged_traces) == 2


def test_judge_show_export_and_resume(cli, fake_judge, tmp_path):
    db = tmp_path / "cj.db"
    result = cli.invoke(app, judge_args(BUNDLED_SAMPLE, fake_judge, db, "--limit", "6", "--concurrency", "3", "--one-per-criterion"))
    assert result.exit_code == 0, result.output
    assert "6 judge calls" in result.output
    again = cli.invoke(app, judge_args(BUNDLED_SAMPLE, fake_judge, db, "--limit", "6", "--one-per-criterion"))
    assert "0 judge calls, 6 already stored" in again.output
    assert len(fake_judge.requests) == 6

    shown = cli.invoke(app, ["show", "t", "--db", str(db)])
    assert shown.exit_code == 0 and "step_correct" in shown.output and "100.0%" in shown.output
    listed = cli.invoke(app, ["runs", "--db", str(db)])
    assert re.search(r"^\W*t\s", listed.output, re.M) and "openai/fake" in listed.output  # a row whose run is "t"

    exported = cli.invoke(app, ["export", "t", "--db", str(db), "--format", "jsonl"])
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert len(rows) == 6
    assert {"trace_id", "step_index", "step_ref", "criterion_id", "label", "passed", "rationale", "judge", "error"} <= rows[0].keys()
    out = tmp_path / "j.csv"
    cli.invoke(app, ["export", "t", "--db", str(db), "--format", "csv", "--out", str(out)])
    assert len(list(csv.DictReader(io.StringIO(out.read_text())))) == 6


def test_api_judges_batch_criteria_by_default_and_can_ask_one_at_a_time(cli, fake_judge, tmp_path):
    batched = cli.invoke(app, judge_args(BUNDLED_SAMPLE, fake_judge, tmp_path / "b.db"))
    assert batched.exit_code == 0, batched.output
    with Store(tmp_path / "b.db") as store:
        judgments = list(store.judgments("t"))
    calls = len(fake_judge.requests)
    assert calls < len(judgments)  # a step's criteria share one request
    assert {len(r["body"]["response_format"]["json_schema"]["schema"]["properties"]) for r in fake_judge.requests} == {2, 4}
    single = cli.invoke(app, judge_args(BUNDLED_SAMPLE, fake_judge, tmp_path / "s.db", "--one-per-criterion"))
    assert single.exit_code == 0, single.output
    assert len(fake_judge.requests) - calls == len(judgments)  # one request per criterion
    assert fake_judge.requests[-1]["body"]["response_format"]["json_schema"]["schema"]["required"] == ["rationale", "label"]


def test_db_from_environment(cli, fake_judge, tmp_path, monkeypatch):
    db = tmp_path / "env.db"
    monkeypatch.setenv("CHAINJUDGE_DB", str(db))
    args = [
        "judge",
        str(BUNDLED_SAMPLE),
        "--rubric",
        str(RUBRIC),
        "--judge",
        "openai/fake",
        "--api-base",
        fake_judge.url,
        "--limit",
        "2",
        "--run",
        "from-env",
    ]
    assert cli.invoke(app, args).exit_code == 0
    assert db.exists()
    assert "from-env" in cli.invoke(app, ["runs"]).output


def test_malformed_rubric_names_field(cli, fake_judge, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: r\ncriteria:\n  - id: c\n    question: q\n    applies_to: [decision]\n    severity: huge\n")
    result = cli.invoke(app, ["judge", str(BUNDLED_SAMPLE), "--rubric", str(bad), "--judge", "openai/fake", "--api-base", fake_judge.url])
    assert result.exit_code == 2
    assert "criteria[0].severity" in result.output and str(bad) in result.output


def test_missing_api_key_names_the_variable(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = cli.invoke(
        app, ["judge", str(BUNDLED_SAMPLE), "--rubric", str(RUBRIC), "--judge", "openai/gpt-4o-mini", "--db", str(tmp_path / "k.db")]
    )
    assert result.exit_code == 2
    assert "OPENAI_API_KEY" in result.output
    assert "Traceback" not in result.output


def test_unreachable_judge_is_a_clear_message(cli, tmp_path):
    from chainjudge.core.judges.local import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    result = cli.invoke(
        app,
        ["judge", str(BUNDLED_SAMPLE), "--rubric", str(RUBRIC), "--judge", "openai/x", "--api-base", url, "--db", str(tmp_path / "u.db")],
    )
    assert result.exit_code == 2
    assert "unreachable" in result.output and url in result.output
    assert "Traceback" not in result.output


def test_unknown_run_is_a_clear_message(cli, tmp_path):
    result = cli.invoke(app, ["show", "nope", "--db", str(tmp_path / "n.db")])
    assert result.exit_code == 2 and "no run named 'nope'" in result.output


def test_schema_commands_print_usable_json_schema(cli):
    trace_schema = json.loads(cli.invoke(app, ["schema", "trace"]).stdout)
    line = BUNDLED_SAMPLE.read_text().splitlines()[0]
    from chainjudge.reading import read_file

    trace = next(iter(read_file(BUNDLED_SAMPLE)))
    jsonschema.validate(json.loads(trace.model_dump_json()), trace_schema)
    assert line  # the schema validates what the adapters produce
    rubric_schema = json.loads(cli.invoke(app, ["schema", "rubric"]).stdout)
    assert rubric_schema["title"] == "chainjudge rubric"


def test_rubric_check(cli, tmp_path):
    ok = cli.invoke(app, ["rubric", "check", str(RUBRIC)])
    assert ok.exit_code == 0 and "step-quality@" in ok.output and "step_correct" in ok.output
    bad = tmp_path / "b.yaml"
    bad.write_text("id: x\n")
    result = cli.invoke(app, ["rubric", "check", str(bad)])
    assert result.exit_code == 2 and "criteria" in result.output


def test_help_explains(cli):
    result = cli.invoke(app, ["judge", "--help"])
    assert result.exit_code == 0
    for words in ("--rubric", "--judge", "--api-base", "--concurrency", "--run", "--db", "--format", "--limit", "resume"):
        assert words in result.output


def test_every_judge_request_field_is_a_judge_option_of_the_same_name():
    """`judge` hands its options to JudgeRequest by name: a field without an option (or a renamed option) would
    fail at run time, so it fails here."""
    import dataclasses
    import inspect

    from chainjudge.cli.judging import judge
    from chainjudge.workflows.judging import JudgeRequest

    assert {f.name for f in dataclasses.fields(JudgeRequest)} == set(inspect.signature(judge).parameters) - {"db"}


def test_a_command_from_options_gets_one_filled_in_request():
    """from_options: the dataclass's annotated fields are the command's options (required stays required,
    defaults and help as declared), and the function receives the filled-in dataclass."""
    import dataclasses
    from typing import Annotated

    import pytest
    import typer
    from typer.testing import CliRunner as Runner

    from chainjudge.cli.options_command import from_options

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Asked:
        name: Annotated[str, typer.Argument(help="Who.")]
        times: Annotated[int, typer.Option(min=1, help="How often.")] = 2

    got = []
    tiny = typer.Typer()

    @tiny.command()
    @from_options(Asked)
    def greet(args: Asked) -> None:
        """Greet NAME."""
        got.append(args)

    assert Runner().invoke(tiny, ["ana", "--times", "3"]).exit_code == 0 and got == [Asked(name="ana", times=3)]
    assert Runner().invoke(tiny, ["bo"]).exit_code == 0 and got[-1] == Asked(name="bo", times=2)
    missing = Runner().invoke(tiny, [])
    assert missing.exit_code == 2 and "Missing argument" in missing.output
    assert Runner().invoke(tiny, ["ana", "--times", "0"]).exit_code == 2  # the option's own bounds hold
    shown = Runner().invoke(tiny, ["--help"], env={"COLUMNS": "120"}).output
    assert "Greet NAME." in shown and "How often." in shown
    with pytest.raises(TypeError, match="not a dataclass"):
        from_options(int)
