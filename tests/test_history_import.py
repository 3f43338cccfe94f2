"""Ground truth from history: `scenarios import` reads a CDP export through a mapping file; every row is
imported whole or rejected with line, column and reason; ids are pseudonymised with a key kept in the
store; annotated expected actions sit beside the policy's; imported states replay through `record` and
count in coverage apart from generated ones."""

from __future__ import annotations

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from chainjudge.cli import app
from chainjudge.core.schema import Trace
from chainjudge.packs.cep.decisions import load_scenarios, score
from chainjudge.packs.cep.fake_export import COLUMNS, MAPPING, write_export
from chainjudge.packs.cep.mapping import load_mapping
from chainjudge.packs.cep.policy import load_policy
from chainjudge.packs.cep.state_import import import_history, pseudonym

GOOD = {
    "customer_id": "CUST-1",
    "full_name": "สมชาย ใจดี",
    "email": "somchai@example.com",
    "phone": "+66 812345678",
    "country": "TH",
    "tz": "Asia/Bangkok",
    "snapshot_at": "2026-10-01 09:30:00",
    "stage": "Lapsed",
    "days_inactive": "40",
    "ltv": "H",
    "last_channel": "LINE",
    "last_touch_at": "20/08/2026 19:00",
    "push_optin": "Y",
    "email_optin": "true",
    "sms_optin": "0",
    "line_friend": "1",
    "wa_optin": "N",
    "langs": "TH|en",
    "sent_today": "0",
    "sent_week": "1",
    "unsubscribed": "false",
    "complaint": "",
    "campaign_kind": "Sale",
    "campaign_lang": "th",
    "adversarial": "",
    "next_action": "Send",
    "next_channel": "line",
    "strategist_note": "ส่งทาง LINE ตอนเย็น",
}


def rows_file(tmp_path, *changes: dict, name="export.csv"):
    path = tmp_path / name
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for i, change in enumerate(changes):
            writer.writerow({**GOOD, "customer_id": f"CUST-{i}", **change})
    return path


@pytest.fixture
def mapping(tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text(MAPPING)
    return load_mapping(path)


def test_each_bad_row_is_named_by_line_column_and_reason_and_skipped(tmp_path, mapping):
    path = rows_file(
        tmp_path,
        {},
        {"stage": ""},
        {"snapshot_at": "2026-02-31 10:00:00"},
        {"country": "XX"},
        {"stage": "active", "days_inactive": "120"},
        {"stage": "active", "days_inactive": "120", "adversarial": "conflicting_signals"},
        {"next_action": "maybe"},
        {"customer_id": "CUST-0"},
    )
    scenarios, report = import_history(path, mapping, b"k" * 32, load_policy())
    found = {(e.line, e.column, e.kind) for e in report.errors}
    assert found == {
        (3, "stage", "missing"),
        (4, "snapshot_at", "bad_timestamp"),
        (5, "country", "bad_value"),
        (6, "(row)", "contradiction"),
        (8, "next_action", "bad_expected"),
        (9, "customer_id", "duplicate"),
    }
    assert report.rows == 8 and report.imported == 2 == len(scenarios)
    declared = next(s for s in scenarios if s.user.perturbations)
    assert declared.user.perturbations == ["conflicting_signals"]  # a declared contradiction is imported


def test_values_are_normalised_and_times_localised(tmp_path, mapping):
    (scenario,), report = import_history(rows_file(tmp_path, {}), mapping, b"k" * 32, load_policy())
    user = scenario.user
    assert (user.market, user.lifecycle, user.ltv_segment, user.last_touch.channel) == ("TH", "lapsed", "high", "line")
    assert user.now.isoformat() == "2026-10-01T02:30:00+00:00"  # 09:30 in Bangkok
    assert user.last_touch.at.isoformat() == "2026-08-20T12:00:00+00:00"
    assert user.languages == ["th", "en"] and user.channels["push"].consent and not user.channels["sms"].consent
    assert user.campaign.kind == "sale" and user.campaign.name == "history winback"  # a default filled in
    assert scenario.origin == "imported" and scenario.expected is not None  # the policy's derivation
    assert scenario.annotated.action == "send" and scenario.annotated.channel == "line"
    assert scenario.annotated_by == "file:next_action" and scenario.annotated.reason == "ส่งทาง LINE ตอนเย็น"


def test_customer_ids_are_pseudonymised_with_a_key_in_the_store(tmp_path):
    path, mapping_file = rows_file(tmp_path, {}, {}), tmp_path / "m.yaml"
    mapping_file.write_text(MAPPING)
    runs = []
    for db, out in (("a.db", "a.jsonl"), ("a.db", "b.jsonl"), ("other.db", "c.jsonl")):
        result = CliRunner().invoke(
            app,
            ["scenarios", "import", str(path), "--mapping", str(mapping_file), "--out", str(tmp_path / out), "--db", str(tmp_path / db)],
        )
        assert result.exit_code == 0, result.output
        runs.append([json.loads(line)["user"]["id"] for line in (tmp_path / out).read_text().splitlines()])
    assert runs[0] == runs[1] and runs[0] != runs[2]  # stable within a store, not computable without its key
    assert all(i.startswith("u-") and len(i) == 18 for i in runs[0])
    written = (tmp_path / "a.jsonl").read_text()
    for secret in ("CUST-0", "CUST-1", "สมชาย", "somchai@example.com", "812345678"):
        assert secret not in written
    assert "pseudonymised: customer_id" in result.output and "full_name, email, phone" in result.output


def test_jsonl_and_parquet_read_as_csv_does(tmp_path, mapping):
    changes = ({}, {"stage": ""}, {"last_channel": "WA", "wa_optin": "Y"})
    from_csv = import_history(rows_file(tmp_path, *changes), mapping, b"k" * 32, load_policy())
    rows = [{**GOOD, "customer_id": f"CUST-{i}", **c} for i, c in enumerate(changes)]
    jsonl = tmp_path / "export.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    parquet = tmp_path / "export.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    for path in (jsonl, parquet):
        scenarios, report = import_history(path, mapping, b"k" * 32, load_policy())
        assert [s.user for s in scenarios] == [s.user for s in from_csv[0]]
        assert [(e.column, e.kind) for e in report.errors] == [(e.column, e.kind) for e in from_csv[1].errors]


def test_a_bad_mapping_is_refused_naming_the_field(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text(MAPPING.replace("timezone_column: tz", "timezone: Mars/Olympus"))
    result = CliRunner().invoke(
        app, ["scenarios", "import", str(rows_file(tmp_path, {})), "--mapping", str(bad), "--db", str(tmp_path / "x.db")]
    )
    assert result.exit_code == 2 and "timezone" in result.output and "Mars/Olympus" in result.output


def test_a_messy_10k_export_imports_with_every_rejection_counted(tmp_path):
    path, mapping_file = write_export(tmp_path / "cdp.csv", rows=10_000), tmp_path / "m.yaml"
    mapping_file.write_text(MAPPING)
    out = tmp_path / "imported.jsonl"
    result = CliRunner().invoke(
        app, ["scenarios", "import", str(path), "--mapping", str(mapping_file), "--out", str(out), "--db", str(tmp_path / "h.db")]
    )
    assert result.exit_code == 1  # rows were rejected, each named
    imported = out.read_text().splitlines()
    assert 8_000 < len(imported) < 9_500
    assert f"{len(imported)} of 10000 rows imported" in result.output
    for kind in ("missing", "bad_timestamp", "bad_value", "contradiction", "bad_expected", "duplicate"):
        assert kind in result.output
    assert "rejected" in result.output and "line " in result.output and "column 'stage'" in result.output


def test_imported_states_replay_and_are_scored_against_either_source(tmp_path, mapping, monkeypatch):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parent))
    scenarios, _ = import_history(rows_file(tmp_path, {}, {"next_action": "", "next_channel": ""}), mapping, b"k" * 32, load_policy())
    imported = tmp_path / "imported.jsonl"
    imported.write_text("".join(s.model_dump_json() + "\n" for s in scenarios))
    from chainjudge.testing.fakejudge import FakeJudgeServer

    out = tmp_path / "replayed.jsonl"
    with FakeJudgeServer() as server:
        result = CliRunner().invoke(
            app,
            [
                "record",
                "--agent",
                "line_agent:agent",
                "--scenarios",
                str(imported),
                "--out",
                str(out),
                "--model",
                "openai/agent",
                "--api-base",
                server.url,
            ],
        )
    assert result.exit_code == 0, result.output
    traces = [Trace.model_validate_json(line) for line in out.read_text().splitlines()]
    assert [t.metadata["origin"] for t in traces] == ["imported", "imported"]
    loaded = load_scenarios(imported)
    by_people = score(traces, loaded, "annotated")
    assert by_people.expected_source == "annotated" and by_people.overall.total == 1  # one row was annotated
    assert by_people.overall.correct == 1  # the agent sent on LINE, as the strategist said
    by_policy = score(traces, loaded, "policy")
    assert by_policy.overall.total == 2 and by_policy.by["origin"]["imported"].total == 2


def test_pseudonyms_are_keyed():
    assert pseudonym(b"a" * 32, "CUST-1") == pseudonym(b"a" * 32, " CUST-1 ") != pseudonym(b"b" * 32, "CUST-1")


def test_the_example_export_and_mapping_in_the_readme_import(tmp_path):
    from conftest import ROOT

    result = CliRunner().invoke(
        app,
        [
            "scenarios",
            "import",
            str(ROOT / "examples" / "cdp-export-sample.csv"),
            "--mapping",
            str(ROOT / "examples" / "cdp-mapping.yaml"),
            "--out",
            str(tmp_path / "i.jsonl"),
            "--db",
            str(tmp_path / "e.db"),
        ],
    )
    assert result.exit_code == 1 and "of 200 rows imported" in result.output  # the sample keeps a real export's faults
    assert len((tmp_path / "i.jsonl").read_text().splitlines()) > 150
