"""Record agent traces over scenarios: any agent that honours the contract below.

Contract: `agent(user: UserState, llm: LLMConfig) -> list[Step]`: the agent's steps in order (its tool
calls and results, reasoning, and a final `decision` step whose text holds a JSON object with
action / channel / content_language / send_window / offer / reason).  chainjudge wraps them into a
native trace with the scenario id, the model and the recording time; an agent that raises or runs past
the timeout yields a trace marked failed with the error, and recording goes on.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from chainjudge.core.schema import Step, StepKind, Trace, utc_now
from chainjudge.packs.cep.scenario import Scenario, UserState


@dataclass(frozen=True)
class LLMConfig:
    model: str  # a litellm model string
    api_base: str | None = None
    api_key: str | None = None
    temperature: float = 0.0
    max_tokens: int = 350


Agent = Callable[[UserState, LLMConfig], list[Step]]


def load_agent(spec: str) -> Agent:
    """'module:callable' -> the callable (the module is imported from the working directory or sys.path)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--agent takes module:callable, got {spec!r}")
    import sys
    from pathlib import Path

    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    module = importlib.import_module(module_name)
    agent = getattr(module, attribute, None)
    if not callable(agent):
        raise ValueError(f"{spec}: {attribute} is not a callable in {module_name}")
    return agent


def record(scenarios: Iterable[Scenario], agent: Agent, llm: LLMConfig, timeout_s: float = 600.0) -> Iterator[Trace]:
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        for scenario in scenarios:
            user = scenario.user
            started = utc_now()
            metadata = {
                "scenario_id": user.id,
                "segment": user.ltv_segment,
                "market": user.market,
                "lifecycle": user.lifecycle,
                "perturbations": list(user.perturbations),
                "agent_model": llm.model,
                "recorded_at": started.isoformat(),
                "status": "ok",
                "origin": scenario.origin,
                "user_state": user.model_dump(mode="json"),
            }
            future = pool.submit(agent, user, llm)
            try:
                steps = list(future.result(timeout=timeout_s))
                steps = [s.model_copy(update={"index": i}) for i, s in enumerate(steps)]
                trace = Trace(id=f"cep-{user.id}", steps=steps, format="native", metadata=metadata)
            except concurrent.futures.TimeoutError:
                metadata.update(status="failed", error=f"agent ran past {timeout_s:.0f} s")
                trace = Trace(id=f"cep-{user.id}", steps=[], format="native", metadata=metadata)
                pool.shutdown(wait=False, cancel_futures=True)
                pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
            except Exception as exc:  # any agent failure is recorded, and recording goes on
                metadata.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(limit=3))
                trace = Trace(id=f"cep-{user.id}", steps=[], format="native", metadata=metadata)
            yield trace
    finally:
        pool.shutdown(wait=False)


def step(index: int, kind: StepKind, text: str = "", **fields) -> Step:
    return Step(index=index, ref=str(index), kind=kind, text=text, **fields)
