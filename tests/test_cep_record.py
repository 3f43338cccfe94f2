"""`chainjudge record`: any agent honouring the contract; an agent that raises or times out yields a
trace marked failed with the error, recording goes on, and a re-run skips what is recorded."""

import json

from typer.testing import CliRunner

from chainjudge.cli import app
from chainjudge.packs.cep.generator import generate
from chainjudge.testing.fakejudge import FakeJudgeServer


def test_record_marks_failures_and_goes_on(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parent))
    scenarios = tmp_path / "s.jsonl"
    scenarios.write_text("\n".join(s.model_dump_json() for s in generate()[:4]) + "\n")
    out = tmp_path / "t.jsonl"
    with FakeJudgeServer() as server:
        args = [
            "record",
            "--agent",
            "flaky_agent:agent",
            "--scenarios",
            str(scenarios),
            "--out",
            str(out),
            "--model",
            "openai/some-model",
            "--api-base",
            server.url,
            "--timeout-s",
            "1",
        ]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        traces = {json.loads(label)["id"]: json.loads(label) for label in out.read_text().splitlines()}
        assert len(traces) == 4
        assert traces["cep-s001"]["metadata"]["status"] == "failed" and "profile service down" in traces["cep-s001"]["metadata"]["error"]
        assert traces["cep-s002"]["metadata"]["status"] == "failed" and "past 1 s" in traces["cep-s002"]["metadata"]["error"]
        ok = traces["cep-s000"]
        assert ok["metadata"]["status"] == "ok" and ok["metadata"]["agent_model"] == "openai/some-model"
        assert ok["metadata"]["recorded_at"] and ok["metadata"]["user_state"]["id"] == "s000"
        again = CliRunner().invoke(app, args)
        assert "0 scenarios to record (4 already" in again.output
