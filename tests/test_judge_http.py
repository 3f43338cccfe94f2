"""The litellm + instructor + tenacity path, over real HTTP against a scripted fake judge server."""

import asyncio
import json
import time

import pytest

from chainjudge.core.engine import plan
from chainjudge.core.judges.litellm_judge import LiteLLMJudge
from chainjudge.core.judges.retry import NO_WAIT, RetryPolicy
from chainjudge.core.schema import JudgeSettings, Trace
from chainjudge.testing.fakejudge import Action

TRACE = Trace(
    id="t1",
    steps=[
        {"index": 0, "ref": "0", "kind": "user", "text": "Lapsed 40 days, opted out of SMS. Should we message her?"},
        {"index": 1, "ref": "1", "kind": "decision", "text": "Send an email with the win-back offer at 10:00 local time."},
    ],
)


def judge_one(server, rubric, script=(), batch=False, policy=NO_WAIT, api_key=None, criterion=0):
    settings = JudgeSettings(model="openai/fake-judge", api_base=server.url, batch=batch)
    items = plan([TRACE], rubric, settings, "run")
    item = items[0] if batch else [i for i in items if i.step.ref == "1"][criterion]
    server.enqueue(*script)
    judge = LiteLLMJudge(settings, retry=policy, api_key=api_key)
    started = time.monotonic()
    judgments = asyncio.run(judge.judge(item))
    return item, judgments, time.monotonic() - started


def test_valid_answer_exact_prompt_and_usage(fake_judge, rubric):
    answer = {"rationale": "Email is allowed and the offer fits.", "label": "correct", "evidence": "win-back offer"}
    item, (j,), _ = judge_one(fake_judge, rubric, [Action(content=answer)])
    assert len(fake_judge.requests) == 1
    body = fake_judge.requests[0]["body"]
    assert body["messages"] == item.messages  # exactly the prompt we built, nothing added
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["properties"]["label"]["enum"] == ["correct", "neutral", "error"]
    assert body["temperature"] == 0.0
    assert j.verdict.label == "correct" and j.passed is True and j.error is None
    assert j.verdict.evidence == "win-back offer"
    assert j.usage.prompt_tokens > 0 and j.usage.completion_tokens > 0
    assert j.prompt_hash == item.prompt_hash and j.cache_key == item.cache_keys["step_correct"]
    assert j.attempts == 1 and j.latency_s > 0


def test_label_outside_scale_is_reasked(fake_judge, rubric):
    script = [Action(content={"rationale": "r", "label": "maybe"}), Action(content={"rationale": "r", "label": "error"})]
    _, (j,), _ = judge_one(fake_judge, rubric, script)
    assert len(fake_judge.requests) == 2
    reask = fake_judge.requests[1]["body"]["messages"]
    assert reask[-2] == {"role": "assistant", "content": '{"rationale": "r", "label": "maybe"}'}
    assert "label" in reask[-1]["content"]
    assert j.verdict.label == "error" and j.passed is False


def test_evidence_not_in_step_is_reasked(fake_judge, rubric):
    script = [
        Action(content={"rationale": "r", "label": "correct", "evidence": "she opted in to SMS"}),
        Action(content={"rationale": "r", "label": "correct", "evidence": "10:00 local time"}),
    ]
    _, (j,), _ = judge_one(fake_judge, rubric, script)
    assert len(fake_judge.requests) == 2
    assert "exact quote" in fake_judge.requests[1]["body"]["messages"][-1]["content"]
    assert j.verdict.evidence == "10:00 local time"


def test_invalid_after_reasks_is_stored_as_error(fake_judge, rubric):
    bad = Action(content="not json at all")
    _, (j,), _ = judge_one(fake_judge, rubric, [bad, bad, bad])
    assert len(fake_judge.requests) == 3  # max_reasks=2 -> 3 requests, no network retries on top
    assert j.verdict is None and j.passed is None
    assert j.error.startswith("invalid_answer:")


def test_429_with_retry_after_is_honoured(fake_judge, rubric):
    _, (j,), elapsed = judge_one(fake_judge, rubric, [Action(status=429, headers={"Retry-After": "1"})])
    assert len(fake_judge.requests) == 2
    gap = fake_judge.requests[1]["time"] - fake_judge.requests[0]["time"]
    assert gap >= 0.95 and elapsed >= 0.95
    assert j.scored and j.attempts == 2


def test_500_retried_once_without_hidden_sdk_retries(fake_judge, rubric):
    _, (j,), _ = judge_one(fake_judge, rubric, [Action(status=500)])
    assert len(fake_judge.requests) == 2
    assert j.scored


def test_persistent_5xx_becomes_error_after_budget(fake_judge, rubric):
    policy = RetryPolicy(max_attempts=3, initial_wait_s=0, jitter_s=0, max_wait_s=0)
    _, (j,), _ = judge_one(fake_judge, rubric, [Action(status=503)] * 5, policy=policy)
    assert len(fake_judge.requests) == 3
    assert j.error.startswith("server:") and j.error_kind == "server" and j.attempts == 3


def test_exponential_backoff_waits_between_attempts(fake_judge, rubric):
    policy = RetryPolicy(max_attempts=3, initial_wait_s=0.2, jitter_s=0, max_wait_s=5)
    _, (j,), _ = judge_one(fake_judge, rubric, [Action(status=502), Action(status=502)], policy=policy)
    times = [r["time"] for r in fake_judge.requests]
    assert times[1] - times[0] >= 0.19 and times[2] - times[1] >= 0.39
    assert j.scored


def test_timeout_is_retried(fake_judge, rubric):
    policy = RetryPolicy(max_attempts=2, initial_wait_s=0, jitter_s=0, max_wait_s=0, request_timeout_s=0.5)
    _, (j,), elapsed = judge_one(fake_judge, rubric, [Action(delay_s=2.0)], policy=policy)
    assert len(fake_judge.requests) == 2 and j.scored
    assert elapsed < 2.0


def test_timeouts_exhausted_become_timeout_error(fake_judge, rubric):
    policy = RetryPolicy(max_attempts=2, initial_wait_s=0, jitter_s=0, max_wait_s=0, request_timeout_s=0.3)
    _, (j,), _ = judge_one(fake_judge, rubric, [Action(delay_s=1.0)] * 2, policy=policy)
    assert j.error.startswith("timeout:") and j.error_kind == "timeout"


def test_dropped_connection_is_retried(fake_judge, rubric):
    _, (j,), _ = judge_one(fake_judge, rubric, [Action(drop=True)])
    assert len(fake_judge.requests) == 2 and j.scored


def test_unreachable_server_is_connection_error(rubric):
    from chainjudge.core.judges.local import free_port

    settings = JudgeSettings(model="openai/fake", api_base=f"http://127.0.0.1:{free_port()}/v1")
    item = plan([TRACE], rubric, settings, "r")[0]
    (j,) = asyncio.run(LiteLLMJudge(settings, retry=RetryPolicy(max_attempts=2, initial_wait_s=0, jitter_s=0, max_wait_s=0)).judge(item))
    assert j.error.startswith("connection:") and j.error_kind == "connection"


def test_batched_call_judges_all_criteria_of_a_step(fake_judge, rubric):
    answer = {
        "step_correct": {"rationale": "fine", "label": "correct"},
        "grounded": {"rationale": "invented the offer", "label": "fail"},
    }
    settings = JudgeSettings(model="openai/fake-judge", api_base=fake_judge.url, batch=True)
    item = [i for i in plan([TRACE], rubric, settings, "r") if i.step.ref == "1"][0]
    fake_judge.enqueue(Action(content=answer))
    judgments = asyncio.run(LiteLLMJudge(settings, retry=NO_WAIT).judge(item))
    assert len(fake_judge.requests) == 1
    by_id = {j.criterion_id: j for j in judgments}
    assert by_id["step_correct"].passed is True and by_id["grounded"].passed is False
    assert all(j.criteria_in_call == 2 for j in judgments)
    total_prompt = fake_judge.requests[0]["body"]  # usage split evenly between the criteria
    assert by_id["grounded"].usage.prompt_tokens == by_id["step_correct"].usage.prompt_tokens > 0
    assert total_prompt["messages"][0]["content"].count("[") >= 2


def test_batched_schema_defines_each_verdict_shape_once_and_nothing_the_prompt_already_says(fake_judge):
    """Criteria on one scale share one verdict definition; titles, descriptions and null defaults are
    not sent on every call (the system message states the criteria and scales)."""
    from chainjudge.core.rubric import parse_rubric

    shared = {"applies_to": ["decision"]}
    rubric = parse_rubric(
        {
            "id": "three",
            "criteria": [
                {"id": "a", "question": "A?", **shared},
                {"id": "b", "question": "B?", **shared},
                {"id": "c", "question": "C?", "scale": {"type": "likert", "min": 1, "max": 3, "pass_threshold": 2}, **shared},
                {"id": "d", "question": "D?", **shared},
            ],
        }
    )
    settings = JudgeSettings(model="openai/fake-judge", api_base=fake_judge.url, batch=True)
    item = plan([TRACE], rubric, settings, "r")[0]
    judgments = asyncio.run(LiteLLMJudge(settings, retry=NO_WAIT).judge(item))
    assert [j.error for j in judgments] == [None] * 4
    schema = fake_judge.requests[0]["body"]["response_format"]["json_schema"]["schema"]
    assert sorted(schema["$defs"]) == ["Verdict_1_to_3", "Verdict_pass_or_fail"]
    refs = {name: prop["$ref"].rsplit("/", 1)[-1] for name, prop in schema["properties"].items()}
    assert refs == {"a": "Verdict_pass_or_fail", "b": "Verdict_pass_or_fail", "c": "Verdict_1_to_3", "d": "Verdict_pass_or_fail"}
    assert schema["$defs"]["Verdict_1_to_3"]["properties"]["label"]["enum"] == [1, 2, 3]
    text = json.dumps(schema)
    assert '"description"' not in text and '"default"' not in text and text.count('"title"') == 1


def test_api_key_sent_as_bearer(fake_judge, rubric):
    judge_one(fake_judge, rubric, api_key="sk-sentinel")
    headers = {k.lower(): v for k, v in fake_judge.requests[0]["headers"].items()}
    assert headers["authorization"] == "Bearer sk-sentinel"


@pytest.mark.parametrize("mode", ["json", "tools", "md_json"])
def test_other_structured_output_modes(fake_judge, rubric, mode):
    settings = JudgeSettings(model="openai/fake-judge", api_base=fake_judge.url, mode=mode)
    item = plan([TRACE], rubric, settings, "r")[0]
    answer = {"rationale": "fine", "label": "neutral"}
    fake_judge.enqueue(Action(content=f"```json\n{json.dumps(answer)}\n```" if mode == "md_json" else answer))
    (j,) = asyncio.run(LiteLLMJudge(settings, retry=NO_WAIT).judge(item))
    assert j.scored, j.error
    assert j.verdict.label == "neutral"
    body = fake_judge.requests[0]["body"]
    assert ("tools" in body) == (mode == "tools")


def test_template_syntax_in_trace_reaches_the_judge_verbatim(fake_judge, rubric):
    text = "Send {{ 7*7 }} coupons {% for x in range(3) %}now{% endfor %} {{ config }}"
    trace = Trace(id="tpl", steps=[{"index": 0, "ref": "0", "kind": "decision", "text": text}])
    settings = JudgeSettings(model="openai/fake-judge", api_base=fake_judge.url)
    item = plan([trace], rubric, settings, "r")[0]
    fake_judge.enqueue(Action(content={"rationale": "r", "label": "correct", "evidence": "{{ 7*7 }} coupons"}))
    (j,) = asyncio.run(LiteLLMJudge(settings, retry=NO_WAIT).judge(item))
    sent = fake_judge.requests[0]["body"]["messages"][1]["content"]
    assert text in sent and "49" not in sent
    assert j.scored and j.verdict.evidence == "{{ 7*7 }} coupons"


def test_batched_partial_answer_reasks_only_what_is_missing(fake_judge, rubric):
    settings = JudgeSettings(model="openai/fake-judge", api_base=fake_judge.url, batch=True)
    item = [i for i in plan([TRACE], rubric, settings, "r") if i.step.ref == "1"][0]
    fake_judge.enqueue(
        Action(content={"step_correct": {"rationale": "fine", "label": "correct"}, "grounded": {"rationale": "?", "label": "maybe"}}),
        Action(content={"rationale": "the offer is invented", "label": "fail"}),
    )
    judgments = {j.criterion_id: j for j in asyncio.run(LiteLLMJudge(settings, retry=NO_WAIT).judge(item))}
    assert len(fake_judge.requests) == 2
    second = fake_judge.requests[1]["body"]
    assert list(second["response_format"]["json_schema"]["schema"]["properties"]) == ["rationale", "label", "evidence", "confidence"]
    assert "grounded" in second["messages"][-1]["content"] and "step_correct" not in second["messages"][-1]["content"]
    assert judgments["step_correct"].verdict.label == "correct" and judgments["grounded"].verdict.label == "fail"
    sent = [max(1, sum(len(str(m.get("content", ""))) for m in r["body"]["messages"]) // 4) for r in fake_judge.requests]
    assert judgments["grounded"].usage.prompt_tokens == judgments["step_correct"].usage.prompt_tokens == sum(sent) / 2  # both calls, shared


def test_batched_answer_that_stays_invalid_keeps_the_good_verdicts(fake_judge, rubric):
    settings = JudgeSettings(model="openai/fake-judge", api_base=fake_judge.url, batch=True, max_reasks=1)
    item = [i for i in plan([TRACE], rubric, settings, "r") if i.step.ref == "1"][0]
    fake_judge.enqueue(Action(content={"step_correct": {"rationale": "fine", "label": "correct"}}), Action(content="nonsense"))
    judgments = {j.criterion_id: j for j in asyncio.run(LiteLLMJudge(settings, retry=NO_WAIT).judge(item))}
    assert judgments["step_correct"].scored
    assert judgments["grounded"].verdict is None and judgments["grounded"].error.startswith("invalid_answer")
