"""Failure modes: embedding (cached), clustering, a catalogue with stable ids, review edits, and the
regression suite that fails CI when a known failure comes back."""

import json
import re

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from chainjudge.analysis.cluster import cluster_failures
from chainjudge.cli import app
from chainjudge.core.schema import Trace
from chainjudge.core.store import Store
from chainjudge.testing.fakejudge import FakeJudgeServer
from chainjudge.workflows.embed import EmbeddingModelMissing, SentenceTransformerEmbedder, embed_cached
from chainjudge.workflows.modes import load_catalogue

FAMILIES = {
    "consent": [
        "Sent an SMS to user {i} although the user opted out of SMS messages.",
        "Chose SMS for user {i} even though SMS consent was withdrawn last month.",
        "Messaged user {i} by SMS despite the opt-out recorded in the profile.",
    ],
    "quiet": [
        "Scheduled the push for user {i} at 23:{m} local time, inside quiet hours.",
        "Sent the notification to user {i} at 02:{m} in the user's time zone, during quiet hours.",
        "Planned delivery for user {i} at 22:{m} local time although quiet hours start at 21:00.",
    ],
    "language": [
        "Wrote the offer for user {i} in English although the user reads only Thai.",
        "Used English copy for user {i} whose language preference is Bahasa Indonesia.",
        "Sent user {i} a Vietnamese-speaking customer an English-only message.",
    ],
}


def family_traces(offset=0, per_family=6, varied=True):
    traces, kinds = [], []
    for family, templates in FAMILIES.items():
        for k in range(per_family):
            i = offset + k
            text = templates[k % 3 if varied else 0].format(i=i, m=10 + k)
            traces.append(
                Trace(
                    id=f"{family}-{i}",
                    steps=[
                        {"index": 0, "ref": "0", "kind": "user", "text": f"Decide the next action for user {i}."},
                        {"index": 1, "ref": "1", "kind": "decision", "text": text},
                    ],
                    metadata={"segment": "high-ltv" if k % 2 else "mass"},
                )
            )
            kinds.append(family)
    return traces, kinds


def failing_judge(body):
    step = re.findall(r"<<<DATA-\w+\n(.*?)\nDATA-\w+>>>", body["messages"][-1]["content"], flags=re.S)[-1]
    return {"rationale": f"The decision is wrong: {step}", "label": "fail"}


RUBRIC_YAML = {
    "id": "cep",
    "criteria": [
        {"id": "policy_ok", "question": "Does the decision follow the contact policy?", "applies_to": ["decision"], "severity": "critical"}
    ],
}


@pytest.fixture(scope="module")
def embedder():
    return SentenceTransformerEmbedder()


@pytest.fixture
def judged(tmp_path):
    rubric = tmp_path / "r.yaml"
    rubric.write_text(yaml.safe_dump(RUBRIC_YAML))
    db = tmp_path / "m.db"
    cli = CliRunner()
    with FakeJudgeServer(answer=failing_judge) as server:
        for run, offset in (("week1", 0), ("week2", 100)):
            traces, _ = family_traces(offset, varied=False)
            path = tmp_path / f"{run}.jsonl"
            path.write_text("\n".join(t.model_dump_json() for t in traces) + "\n")
            result = cli.invoke(
                app,
                [
                    "judge",
                    str(path),
                    "--rubric",
                    str(rubric),
                    "--judge",
                    "openai/j",
                    "--api-base",
                    server.url,
                    "--db",
                    str(db),
                    "--run",
                    run,
                ],
            )
            assert result.exit_code == 0, result.output
    return tmp_path, db, rubric


def test_embeddings_are_cached_and_never_computed_twice(tmp_path, embedder):
    class Counting:
        name = embedder.name
        calls = 0

        def encode(self, texts):
            Counting.calls += len(texts)
            return embedder.encode(texts)

    with Store(tmp_path / "e.db") as store:
        first = embed_cached(["a b c", "ส่งข้อความ", "a b c"], Counting(), store)
        again = embed_cached(["a b c", "ส่งข้อความ"], Counting(), store)
    assert Counting.calls == 2 and first.shape == (3, 384)
    assert np.allclose(first[0], again[0]) and np.allclose(first[0], first[2])


def test_missing_model_directory_names_the_package(tmp_path):
    with pytest.raises(EmbeddingModelMissing, match="sentence-transformers model directory"):
        SentenceTransformerEmbedder(tmp_path)


def test_clusters_recover_known_fault_kinds(embedder):
    traces, kinds = family_traces(per_family=9)
    texts = [t.steps[1].text for t in traces]
    result = cluster_failures(embedder.encode(texts), texts, threshold=0.5, min_size=3)
    from sklearn.metrics import adjusted_rand_score

    labels = np.full(len(texts), -1)
    for c, cl in enumerate(result.clusters):
        labels[cl.members] = c
    purity = sum(max(np.bincount([list(FAMILIES).index(kinds[i]) for i in cl.members])) for cl in result.clusters) / len(texts)
    assert len(result.clusters) == 3 and purity == 1.0 and not result.outliers
    assert adjusted_rand_score(kinds, labels) == pytest.approx(1.0)
    assert all(cl.keywords for cl in result.clusters)


@pytest.mark.parametrize(
    "texts",
    [
        [],
        ["only one failure"],
        [
            "ส่ง SMS ถึงลูกค้าที่ยกเลิกการรับข้อความแล้ว",
            "Mengirim SMS kepada pelanggan yang sudah berhenti berlangganan",
            "向已退订的用户发送短信",
            "Gửi SMS cho khách hàng đã hủy đăng ký",
            "12345 67890",
        ],
    ],
)
def test_small_empty_and_non_latin_inputs_do_not_crash(embedder, texts):
    vectors = embedder.encode(texts) if texts else np.zeros((0, 384), dtype=np.float32)
    result = cluster_failures(vectors, texts, min_size=3)
    assert len(result.outliers) + sum(len(c.members) for c in result.clusters) == len(texts)


def test_catalogue_ids_stable_across_runs_and_review_edits(judged):
    tmp, db, _ = judged
    catalogue = tmp / "failure-modes.yaml"
    cli = CliRunner()
    first = cli.invoke(app, ["cluster", "week1", "--db", str(db), "--catalogue", str(catalogue), "--threshold", "0.6"])
    assert first.exit_code == 0, first.output
    cat1 = load_catalogue(catalogue)
    assert [m.id for m in cat1.modes] == ["FM-001", "FM-002", "FM-003"] and cat1.version == 1
    second = cli.invoke(app, ["cluster", "week2", "--db", str(db), "--catalogue", str(catalogue), "--threshold", "0.6"])
    assert second.exit_code == 0, second.output
    cat2 = load_catalogue(catalogue)
    assert [m.id for m in cat2.modes] == ["FM-001", "FM-002", "FM-003"]  # matched by centroid, not renumbered
    assert all(set(m.counts) == {"week1", "week2"} and m.counts["week2"] == 6 for m in cat2.modes)
    assert all(m.segments == ["high-ltv", "mass"] and m.criteria == ["policy_ok"] for m in cat2.modes)
    assert second.output.count("known") == 3

    assert cli.invoke(app, ["modes", "rename", "FM-002", "quiet hours ignored", "--catalogue", str(catalogue)]).exit_code == 0
    assert cli.invoke(app, ["modes", "merge", "FM-003", "FM-001", "--catalogue", str(catalogue)]).exit_code == 0
    assert cli.invoke(app, ["modes", "status", "FM-002", "fixed", "--catalogue", str(catalogue)]).exit_code == 0
    cat3 = load_catalogue(catalogue)
    assert cat3.mode("FM-002").name == "quiet hours ignored" and cat3.mode("FM-002").status == "fixed"
    assert cat3.mode("FM-003").status == "merged" and cat3.mode("FM-001").counts["week1"] == 12
    listed = cli.invoke(app, ["modes", "--catalogue", str(catalogue)])
    assert "quiet hours ignored" in listed.output and "merged -> FM-001" in listed.output
    bad = cli.invoke(app, ["modes", "rename", "FM-999", "x", "--catalogue", str(catalogue)])
    assert bad.exit_code == 2 and "FM-999" in bad.output


def test_regression_suite_fails_ci_when_a_mode_recurs(judged):
    tmp, db, _ = judged
    catalogue, suite = tmp / "fm.yaml", tmp / "regressions"
    cli = CliRunner()
    assert cli.invoke(app, ["cluster", "week1", "--db", str(db), "--catalogue", str(catalogue), "--threshold", "0.6"]).exit_code == 0
    added = cli.invoke(app, ["regress", "add", "FM-001", "--n", "2", "--suite", str(suite), "--catalogue", str(catalogue), "--db", str(db)])
    assert added.exit_code == 0, added.output
    cases = sorted((suite / "FM-001").glob("*.json"))
    assert len(cases) == 2
    case = json.loads(cases[0].read_text())
    assert case["criterion"]["id"] == "policy_ok" and case["failed_label"] == "fail"
    assert case["trace"]["steps"][-1]["ref"] == case["step_ref"]
    regress_db = tmp / "regress.db"
    run = ["regress", "run", "--suite", str(suite), "--db", str(regress_db)]
    with FakeJudgeServer(answer=failing_judge) as still_failing:
        result = cli.invoke(app, [*run, "--judge", "openai/j", "--api-base", still_failing.url])
        assert result.exit_code == 1 and "recurs: FM-001" in result.output
        asked = len(still_failing.requests)
        again = cli.invoke(app, [*run, "--judge", "openai/j", "--api-base", still_failing.url])
        assert again.exit_code == 1 and len(still_failing.requests) == asked == 2  # through the engine: cached, not re-asked
    with FakeJudgeServer(answer=lambda body: {"rationale": "fine now", "label": "pass"}) as fixed:
        result = cli.invoke(app, [*run, "--judge", "openai/fixed", "--api-base", fixed.url])
    assert result.exit_code == 0 and "2 regression cases, 2 pass" in result.output
    with Store(regress_db) as store:
        runs = {r.name for r in store.runs()}
    assert len(runs) == 2 and all(n.startswith("regress-") for n in runs)  # one run per judge, kept in the store


def test_split_a_mode_into_tighter_ones(judged):
    tmp, db, _ = judged
    catalogue = tmp / "fm.yaml"
    cli = CliRunner()
    # a loose threshold lumps families together; split separates them again
    assert (
        cli.invoke(
            app, ["cluster", "week1", "--db", str(db), "--catalogue", str(catalogue), "--threshold", "0.2", "--min-size", "3"]
        ).exit_code
        == 0
    )
    cat = load_catalogue(catalogue)
    biggest = max(cat.modes, key=lambda m: m.counts["week1"])
    assert biggest.counts["week1"] > 6
    result = cli.invoke(
        app, ["modes", "split", biggest.id, "--run", "week1", "--threshold", "0.6", "--catalogue", str(catalogue), "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    after = load_catalogue(catalogue)
    assert len(after.modes) > len(cat.modes) and after.mode(biggest.id).counts["week1"] < biggest.counts["week1"]
