"""The model judge: any litellm model string, structured output through instructor, retries by tenacity.

Stateless: it holds its settings and a client, never results.  Every outcome is a `Judgment`: a verdict
with usage, cost and latency, or the error that remained after retries and re-asks.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from chainjudge.core.decision_threshold import apply_threshold
from chainjudge.core.judges.label_probs import label_probabilities
from chainjudge.core.judges.retry import RetryPolicy, error_kind
from chainjudge.core.judges.verdicts import STEP_TEXT, batch_model, lenient_batch_model, salvage, unpack, verdict_model
from chainjudge.core.limiter import AdaptiveLimiter
from chainjudge.core.schema import Criterion, JudgeSettings, Judgment, Usage, Verdict, WorkItem

_MODES = {"json_schema": "JSON_SCHEMA", "json": "JSON", "tools": "TOOLS", "md_json": "MD_JSON"}


class Failure(NamedTuple):
    """Why a call left no verdict: a kind (rate_limit, server, connection, timeout, invalid_answer ...) kept
    as a field of the judgment, and a readable message."""

    kind: str
    text: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.text}"


MISSING = Failure("invalid_answer", "criterion missing from answer")


class LiteLLMJudge:
    def __init__(
        self,
        settings: JudgeSettings,
        retry: RetryPolicy | None = None,
        api_key: str | None = None,
        completion: Any = None,
        max_in_flight: int | None = None,
    ) -> None:
        import instructor

        self.settings = settings
        # how many calls the server works on at once (None: no known limit). Calls beyond it would wait
        # in the server's queue with their timeout running, so callers cap their concurrency to it.
        self.max_in_flight = max_in_flight
        self.retry = retry or RetryPolicy()
        self._api_key = api_key
        import litellm

        # Retries are tenacity's alone, set on this judge's calls, not on litellm's module globals (a host
        # process keeps its own): max_retries=0 reaches the OpenAI SDK (instructor consumes its own
        # max_retries for re-asks) and num_retries=0 turns off litellm's retry wrapper for these calls.
        raw = completion or functools.partial(litellm.acompletion, max_retries=0, num_retries=0)
        self._client: Any = instructor.from_litellm(  # async underneath (acompletion); its stubs say sync
            raw, mode=getattr(instructor.Mode, _MODES[settings.mode])
        )

    @property
    def name(self) -> str:
        return self.settings.model

    def recipe(self) -> dict[str, Any]:
        """What rebuilds this judge in another process (a Ray worker): its client cannot be pickled, the
        arguments that made it can."""
        return {"settings": self.settings, "retry": self.retry, "api_key": self._api_key, "max_in_flight": self.max_in_flight}

    async def _call(self, kwargs: dict[str, Any], limiter: AdaptiveLimiter | None) -> Any:
        if limiter is None:
            return await self._client.chat.completions.create_with_completion(**kwargs)
        async with limiter.slot():
            try:
                result = await self._client.chat.completions.create_with_completion(**kwargs)
            except Exception as exc:
                kind = error_kind(exc)
                if kind == "rate_limit":
                    limiter.on_rate_limit()
                elif kind == "timeout":
                    limiter.on_timeout()  # an overloaded server: fewer calls in flight, as for a 429
                raise
        limiter.on_success()
        return result

    async def ask(
        self, messages: list[dict[str, Any]], response_model: type, max_tokens: int = 512
    ) -> tuple[Any, dict[str, int], int, Failure | None]:
        """A structured question outside a rubric (failure attribution, say), through the same client,
        retries and credentials: (answer or None, token usage, attempts, failure or None)."""
        s = self.settings
        kwargs: dict[str, Any] = {
            "model": s.model,
            "messages": messages,
            "response_model": response_model,
            "max_retries": s.max_reasks,
            "temperature": s.temperature,
            "max_tokens": max_tokens,
            "timeout": self.retry.request_timeout_s,
        }
        if s.api_base:
            kwargs["api_base"] = s.api_base
        if self._api_key:
            kwargs["api_key"] = self._api_key
        elif s.api_base:
            kwargs["api_key"] = "not-needed"
        answer, raw, attempts, failure = await self._ask(kwargs, None)
        usage = getattr(raw, "usage", None)
        tokens = {"prompt": int(getattr(usage, "prompt_tokens", 0) or 0), "completion": int(getattr(usage, "completion_tokens", 0) or 0)}
        return answer, tokens, attempts, failure

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
        if s.label_probs:
            # providers without log-probabilities drop the request for them (then thresholds fall back
            # to the verdict's confidence) rather than fail the call
            kwargs.update(logprobs=True, top_logprobs=5, drop_params=True)
        if self._api_key:
            kwargs["api_key"] = self._api_key
        elif s.api_base:
            kwargs["api_key"] = "not-needed"  # OpenAI-compatible servers still want a key header
        return kwargs

    async def _judge_batch(
        self, item: WorkItem, kwargs: dict[str, Any], limiter: AdaptiveLimiter | None, raws: list[Any]
    ) -> tuple[dict[str, Verdict], int, Failure | None]:
        """All criteria in one call; criteria whose verdict is missing or invalid are re-asked, alone."""
        s = self.settings
        kwargs = {**kwargs, "response_model": lenient_batch_model(item.criteria, s.ask_evidence), "max_retries": 1}
        answer, raw, attempts, error = await self._ask(kwargs, limiter)
        raws.append(raw)
        if answer is None:
            return {}, attempts, error
        verdicts, problems = salvage(answer, item.criteria, s.ask_evidence)
        rounds = 0
        while problems and rounds < s.max_reasks:
            rounds += 1
            missing = tuple(c for c in item.criteria if c.id in problems)
            note = "; ".join(f"{cid}: {why}" for cid, why in problems.items())
            follow_up = [
                *item.messages,
                {"role": "assistant", "content": answer.model_dump_json(by_alias=True, exclude_none=True)},
                {
                    "role": "user",
                    "content": f"These verdicts were missing or invalid ({note}). Answer again for only: {', '.join(problems)}.",
                },
            ]
            response_model = verdict_model(missing[0], s.ask_evidence) if len(missing) == 1 else batch_model(missing, s.ask_evidence)
            answer2, raw2, more, error = await self._ask(
                {**kwargs, "messages": follow_up, "response_model": response_model, "max_retries": 0}, limiter
            )
            attempts += more
            raws.append(raw2)
            if answer2 is None:
                break
            verdicts.update(unpack(answer2, missing))
            problems = {cid: why for cid, why in problems.items() if cid not in verdicts}
        if problems and error is None:
            error = Failure("invalid_answer", "; ".join(f"{cid}: {why}" for cid, why in problems.items()))
        return verdicts, attempts, error

    def _usage(self, raws: list[Any], k: int) -> Usage:
        """The calls' token usage and cost, shared evenly by the criteria they judged."""
        usage = Usage()
        for raw in raws:
            if raw is not None and getattr(raw, "usage", None) is not None:
                usage.prompt_tokens += (raw.usage.prompt_tokens or 0) / k
                usage.completion_tokens += (raw.usage.completion_tokens or 0) / k
                usage.cost_usd += self._cost(raw) / k
        return usage

    @staticmethod
    def _cost(raw: Any) -> float:
        """litellm has already priced the response (hidden params); pricing it again costs ~1.7 ms."""
        cost = (getattr(raw, "_hidden_params", None) or {}).get("response_cost")
        try:
            return float(cost or 0.0)
        except (TypeError, ValueError):
            return 0.0

    async def _ask(self, kwargs: dict[str, Any], limiter: AdaptiveLimiter | None) -> tuple[Any, Any, int, Failure | None]:
        """One structured call under the retry policy: (answer, raw completion, attempts, error)."""
        attempts = 0
        try:
            async for attempt in self.retry.retrying():
                with attempt:
                    attempts += 1
                    answer, raw = await self._call(kwargs, limiter)
            return answer, raw, attempts, None
        except Exception as exc:  # every failure becomes data
            return None, None, attempts, Failure(error_kind(exc), _short(exc))

    async def judge(self, item: WorkItem, limiter: AdaptiveLimiter | None = None) -> list[Judgment]:
        kwargs = self._request(item)
        STEP_TEXT.set(item.step.render())
        started = time.perf_counter()
        k = len(item.criteria)
        raws: list[Any] = []
        if k == 1:
            answer, raw, attempts, error = await self._ask(kwargs, limiter)
            verdicts: dict[str, Verdict] = unpack(answer, item.criteria) if answer is not None else {}
            raws.append(raw)
        else:
            verdicts, attempts, error = await self._judge_batch(item, kwargs, limiter, raws)
        call = _Call(time.perf_counter() - started, self._usage(raws, k), attempts, k, error)
        return [self._judgment(item, criterion, verdicts.get(criterion.id), raws[0] if raws else None, call) for criterion in item.criteria]

    def _judgment(self, item: WorkItem, criterion: Criterion, verdict: Verdict | None, raw: Any, call: _Call) -> Judgment:
        """One criterion's judgment from the call: the verdict (an aligned judge's threshold applied to its label
        probabilities), or the failure that left none, with the call's cost and time."""
        probs = None
        if verdict and call.criteria == 1 and self.settings.label_probs:
            probs = label_probabilities(raw, criterion.scale.labels)
        raw_label = None
        if verdict and criterion.id in self.settings.thresholds:
            verdict, raw_label = apply_threshold(verdict, probs, criterion.scale, self.settings.thresholds[criterion.id])
        failure = call.error or MISSING
        return Judgment(
            **item.identity(criterion.id, self.settings.model),
            verdict=verdict,
            passed=criterion.scale.passes(verdict.label) if verdict else None,
            error=None if verdict else str(failure),
            error_kind=None if verdict else failure.kind,
            aligned=self.settings.aligned,
            label_probs=probs,
            raw_label=raw_label,
            usage=call.usage,
            latency_s=call.latency,
            attempts=call.attempts,
            criteria_in_call=call.criteria,
            flags=item.flags,
        )


@dataclass(frozen=True)
class _Call:
    """What one call to the judge cost and how it ended, shared by the judgments it gave."""

    latency: float
    usage: Usage
    attempts: int
    criteria: int
    error: Failure | None


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
