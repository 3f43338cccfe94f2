"""The model judge: any litellm model string, structured output through instructor, retries by tenacity.

Stateless: it holds its settings and a client, never results.  Every outcome is a `Judgment`: a verdict
with usage, cost and latency, or the error that remained after retries and re-asks.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from chainjudge.judges.retry import RetryPolicy, error_kind
from chainjudge.limiter import AdaptiveLimiter
from chainjudge.judges.verdicts import STEP_TEXT, batch_model, unpack, verdict_model
from chainjudge.schema import Judgment, JudgeSettings, Usage, Verdict, WorkItem

_MODES = {"json_schema": "JSON_SCHEMA", "json": "JSON", "tools": "TOOLS", "md_json": "MD_JSON"}


def _import_litellm():
    import logging

    import litellm

    # failures are recorded as data on each Judgment; the libraries' own log lines would only duplicate them
    for name in ("instructor", "LiteLLM", "litellm", "httpx"):
        logging.getLogger(name).setLevel(logging.CRITICAL)

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    litellm.num_retries = 0
    return litellm


class LiteLLMJudge:
    def __init__(
        self,
        settings: JudgeSettings,
        retry: RetryPolicy | None = None,
        api_key: str | None = None,
        completion: Any = None,
    ) -> None:
        import instructor

        self.settings = settings
        self.retry = retry or RetryPolicy()
        self._api_key = api_key
        self._litellm = _import_litellm()
        # max_retries=0 reaches litellm (instructor consumes its own max_retries for re-asks):
        # the OpenAI SDK's hidden retries would otherwise stack under tenacity's.
        raw = completion or functools.partial(self._litellm.acompletion, max_retries=0)
        self._client = instructor.from_litellm(raw, mode=getattr(instructor.Mode, _MODES[settings.mode]))

    @property
    def name(self) -> str:
        return self.settings.model

    async def _call(self, kwargs: dict[str, Any], limiter: AdaptiveLimiter | None):
        if limiter is None:
            return await self._client.chat.completions.create_with_completion(**kwargs)
        async with limiter.slot():
            try:
                result = await self._client.chat.completions.create_with_completion(**kwargs)
            except Exception as exc:
                if error_kind(exc) == "rate_limit":
                    limiter.on_rate_limit()
                raise
        limiter.on_success()
        return result

    def _request(self, item: WorkItem) -> dict[str, Any]:
        s = self.settings
        if len(item.criteria) == 1:
            response_model = verdict_model(item.criteria[0], s.ask_evidence)
        else:
            response_model = batch_model(item.criteria, s.ask_evidence)
        kwargs: dict[str, Any] = {
            "model": s.model,
            "messages": item.messages,
            "response_model": response_model,
            "max_retries": s.max_reasks,
            "temperature": s.temperature,
            "max_tokens": s.max_tokens * len(item.criteria),
            "timeout": self.retry.request_timeout_s,
        }
        if s.api_base:
            kwargs["api_base"] = s.api_base
        if self._api_key:
            kwargs["api_key"] = self._api_key
        elif s.api_base:
            kwargs["api_key"] = "not-needed"  # OpenAI-compatible servers still want a key header
        return kwargs

    @staticmethod
    def _cost(raw: Any) -> float:
        """litellm has already priced the response (hidden params); pricing it again costs ~1.7 ms."""
        cost = (getattr(raw, "_hidden_params", None) or {}).get("response_cost")
        try:
            return float(cost or 0.0)
        except (TypeError, ValueError):
            return 0.0

    async def judge(self, item: WorkItem, limiter: AdaptiveLimiter | None = None) -> list[Judgment]:
        kwargs = self._request(item)
        STEP_TEXT.set(item.step.render())
        started = time.perf_counter()
        attempts = 0
        answer = raw = None
        error: str | None = None
        try:
            async for attempt in self.retry.retrying():
                with attempt:
                    attempts += 1
                    answer, raw = await self._call(kwargs, limiter)
        except Exception as exc:  # every failure becomes data
            error = f"{error_kind(exc)}: {_short(exc)}"
        latency = time.perf_counter() - started
        k = len(item.criteria)
        verdicts: dict[str, Verdict] = unpack(answer, item.criteria) if answer is not None else {}
        usage = Usage()
        if raw is not None and getattr(raw, "usage", None) is not None:
            usage = Usage(
                prompt_tokens=(raw.usage.prompt_tokens or 0) / k,
                completion_tokens=(raw.usage.completion_tokens or 0) / k,
                cost_usd=self._cost(raw) / k,
            )
        judgments = []
        for criterion in item.criteria:
            verdict = verdicts.get(criterion.id)
            judgments.append(
                Judgment(
                    run=item.run,
                    trace_id=item.trace_id,
                    step_index=item.step.index,
                    step_ref=item.step.ref,
                    criterion_id=criterion.id,
                    verdict=verdict,
                    passed=criterion.scale.passes(verdict.label) if verdict else None,
                    error=None if verdict else (error or "invalid_answer: criterion missing from answer"),
                    judge=self.settings.model,
                    rubric_id=item.rubric_id,
                    rubric_hash=item.rubric_hash,
                    prompt_hash=item.prompt_hash,
                    cache_key=item.cache_keys[criterion.id],
                    usage=usage,
                    latency_s=latency,
                    attempts=attempts,
                    criteria_in_call=k,
                    flags=item.flags,
                )
            )
        return judgments


def _compact(exc: BaseException) -> str:
    text = " ".join(line.strip() for line in str(exc).splitlines() if "errors.pydantic.dev" not in line)
    return text or type(exc).__name__


def _short(exc: BaseException, limit: int = 400) -> str:
    """One readable line: the litellm error, or the last validation error after instructor's re-asks."""
    cause = exc.__cause__
    if cause is not None and "Instructor" in type(exc).__name__:
        return _compact(cause)[:limit]
    attempts = getattr(exc, "failed_attempts", None)
    if attempts:
        last = attempts[-1].exception
        return f"no valid answer after {len(attempts)} tries: {_compact(last)}"[:limit]
    return _compact(exc)[:limit]
