"""Run an agent through a journey, decision point by decision point, against the simulated customer.

At each decision point the script's events up to that moment are applied, the state is brought up to
date (the time, the day's and the week's sends, the last touch, conversions and unsubscribes, the
journey step), and the agent decides.  An agent that takes a third argument `history` also gets the
journey so far (each earlier decision with the events before it and the customer's reaction); one that
takes two sees the journey only through the state, as a production next-best-action agent would.

One journey is one trace: per decision point a context step (the moment and what happened since), the
agent's own steps, and the customer's reaction; the decision step carries the state it was made on, so
the single-decision checks judge it against the right moment.  The trace metadata holds the journey
itself and the journey log, so the run can be replayed: the customer's draws come from the seed, the
journey and the decision point only, never from the clock or the order journeys ran in.
"""

from __future__ import annotations

import concurrent.futures
import inspect
import json
import random
import traceback
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chainjudge.core.schema import Step, StepKind, Trace, utc_now
from chainjudge.packs.cep.customer import Reaction, ResponseModel, is_send, react
from chainjudge.packs.cep.decisions import _json_object
from chainjudge.packs.cep.journey import Journey, apply_event, journey_step
from chainjudge.packs.cep.policy import Policy, in_quiet_hours, load_policy
from chainjudge.packs.cep.recording import Agent, LLMConfig
from chainjudge.packs.cep.scenario import Touch, UserState


def trace_id(journey_id: str, repeat: int) -> str:
    return f"journey-{journey_id}-r{repeat}"


def takes_history(agent: Callable) -> bool:
    """Whether the agent wants the journey so far (a parameter named `history`, or a third positional)."""
    try:
        parameters = inspect.signature(agent).parameters
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return "history" in parameters or len(positional) >= 3 or any(p.kind is p.VAR_POSITIONAL for p in parameters.values())


def customer_rng(seed: int, journey_id: str, repeat: int, point: int) -> random.Random:
    """The customer's randomness for one decision point: a function of these four values only."""
    return random.Random(f"{seed}:{journey_id}:{repeat}:{point}")


class _Timeline:
    """The journey's moving state: what the script and the customer have done so far."""

    def __init__(self, journey: Journey, policy: Policy):
        self.journey, self.policy = journey, policy
        self.state = journey.start
        self.next_event = 0
        self.sends: list[tuple[datetime, str | None, str | None]] = []  # (when, channel, offer) of each send decided
        self.last_activity = journey.start.now - timedelta(days=journey.start.days_since_active)
        self.converted = journey.start.converted_in_window
        self.touch: Touch | None = None  # the last message that reached the customer (a send to nowhere is no touch)

    def advance(self, moment: datetime, point: int) -> list[dict]:
        """Apply the script's events up to `moment`; returns them as the log records them."""
        applied = []
        events = self.journey.events
        while self.next_event < len(events) and events[self.next_event].at <= moment:
            event = events[self.next_event]
            self.next_event += 1
            record = event.model_dump(mode="json", exclude_none=True)
            if event.kind == "convert" and self.converted:
                record.update(applied=False, why="the customer had already converted")  # never converts twice
            else:
                self.state = apply_event(self.state, event)
                if event.kind == "convert":
                    self.converted, self.last_activity = True, event.at
            applied.append(record)
        self.state = self._at(moment, point)
        return applied

    def _at(self, moment: datetime, point: int) -> UserState:
        start, zone = self.journey.start, ZoneInfo(self.state.timezone)
        today = moment.astimezone(zone).date()
        agent_today = sum(1 for at, _, _ in self.sends if at.astimezone(zone).date() == today)
        agent_week = sum(1 for at, _, _ in self.sends if moment - at < timedelta(days=7))
        before_today = start.sent_today if start.now.astimezone(zone).date() == today else 0
        before_week = start.sent_this_week if moment - start.now < timedelta(days=7) else 0
        data = self.state.model_dump()
        days = max(0, (moment - self.last_activity).days)
        data.update(
            now=moment,
            sent_today=agent_today + before_today,
            sent_this_week=agent_week + before_week,
            days_since_active=days,
            journey=self.journey.kind,
            journey_step=journey_step(self.journey, point),
        )
        if data["lifecycle"] == "active" and days > 30:  # recency moves the lifecycle on, as a CDP recomputes it
            data["lifecycle"] = "lapsed"
        if self.touch is not None:
            data["last_touch"] = self.touch.model_dump()
        return UserState.model_validate(data)

    def at_night(self) -> bool:
        quiet = self.policy.quiet_hours.get(self.state.market) or self.policy.quiet_hours["default"]
        return in_quiet_hours(self.state.now.astimezone(ZoneInfo(self.state.timezone)).time(), quiet)

    def sent_past_week(self) -> int:
        return sum(1 for at, _, _ in self.sends if self.state.now - at < timedelta(days=7))

    def answer(self, decision: dict | None, rng: random.Random, model: ResponseModel) -> Reaction:
        action = "send" if is_send((decision or {}).get("action")) else "no send"
        channel = (decision or {}).get("channel")
        channel = str(channel) if channel not in (None, "") else None
        reaction = react(self.state, action, channel, self.at_night(), self.sent_past_week(), model, rng)
        if reaction.sent:
            offer = (decision or {}).get("offer")
            self.sends.append((self.state.now, channel, str(offer) if offer not in (None, "") else None))
        if reaction.delivered and reaction.channel:
            self.touch = Touch(channel=reaction.channel, at=self.state.now)  # type: ignore[arg-type]
        if reaction.opened:
            self.last_activity = self.state.now
        updates = {}
        if reaction.converted:
            self.converted = True
            updates["converted_in_window"] = True
        if reaction.unsubscribed:
            updates["global_unsubscribe"] = True
        if updates:
            self.state = self.state.model_copy(update=updates)
        return reaction


def _context_text(journey: Journey, point: int, state: UserState, events: list[dict]) -> str:
    local = state.now.astimezone(ZoneInfo(state.timezone))
    day = (state.now - journey.start.now).days
    since = (
        "; ".join(
            f"{e['kind']}" + (f" ({e.get('channel') or e.get('language') or ''})" if e.get("channel") or e.get("language") else "")
            for e in events
        )
        or "nothing new"
    )
    return (
        f"Journey {journey.id} ({journey.kind}), decision {point + 1} of {len(journey.decision_points)}: "
        f"day {day}, {local:%Y-%m-%d %H:%M} local. Since the last decision: {since}."
    )


def _reaction_text(reaction: Reaction) -> str:
    if not reaction.sent:
        return "Customer: nothing was sent."
    if not reaction.delivered:
        return f"Customer: the message on {reaction.channel} was not delivered ({reaction.why_not_delivered})."
    did = [name for name in ("opened", "clicked", "converted", "unsubscribed") if getattr(reaction, name)]
    return f"Customer: received the message on {reaction.channel}" + (f" and {', '.join(did)}." if did else ", no reaction.")


def record_journey(
    journey: Journey,
    agent: Agent,
    llm: LLMConfig,
    *,
    seed: int = 0,
    repeat: int = 0,
    model: ResponseModel | None = None,
    policy: Policy | None = None,
    timeout_s: float = 600.0,
    extra_metadata: dict | None = None,
) -> Trace:
    """One journey, start to end (or to the agent's failure, which is recorded, not raised)."""
    recorder = _JourneyRecorder(journey, agent, llm, model or ResponseModel(), policy or load_policy(), timeout_s)
    started = utc_now()
    try:
        for point, moment in enumerate(journey.decision_points):
            if not recorder.decide(point, moment, seed, repeat):
                break
    finally:
        recorder.pool.shutdown(wait=False)
    metadata = {**_trace_metadata(journey, recorder, llm, seed, repeat, started), **(extra_metadata or {}), **recorder.extra}
    if recorder.error:
        metadata["error"] = recorder.error
    return Trace(id=trace_id(journey.id, repeat), steps=recorder.steps, format="native", metadata=json.loads(json.dumps(metadata)))


class _JourneyRecorder:
    """The trace of one journey as it is recorded: the steps, the log of decision points, how it ended."""

    def __init__(self, journey: Journey, agent: Agent, llm: LLMConfig, model: ResponseModel, policy: Policy, timeout_s: float) -> None:
        self.journey, self.agent, self.llm, self.model, self.timeout_s = journey, agent, llm, model, timeout_s
        self.timeline = _Timeline(journey, policy)
        self.wants_history = takes_history(agent)
        self.steps: list[Step] = []
        self.log: list[dict] = []
        self.status = "ok"
        self.error: str | None = None
        self.extra: dict[str, Any] = {}
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)

    def decide(self, point: int, moment: datetime, seed: int, repeat: int) -> bool:
        """One decision point: the state, the agent's steps, the customer's reaction.  False: the journey ends here."""
        try:
            events = self.timeline.advance(moment, point)
        except ValueError as exc:  # the simulator could not build a valid state: its failure, not the agent's
            first = str(exc).splitlines()[0][:300]
            self.status, self.error = "simulator_error", f"decision {point + 1}: the simulated state is invalid: {first}"
            return False
        state = self.timeline.state
        state_json = state.model_dump(mode="json")  # as the agent was given it
        self.steps.append(self._step(StepKind.user, "journey", _context_text(self.journey, point, state, events), point))
        own = self._ask_agent(state, point)
        if own is None:
            return False
        decision = self._append_own(own, point, state_json)
        reaction = self.timeline.answer(decision, customer_rng(seed, self.journey.id, repeat, point), self.model)
        self.steps.append(self._step(StepKind.user, "customer", _reaction_text(reaction), point))
        self.log.append(
            {
                "point": point,
                "at": moment.isoformat(),
                "at_local": moment.astimezone(ZoneInfo(state.timezone)).strftime("%Y-%m-%d %H:%M"),
                "step": state.journey_step,
                "events": events,
                "user_state": state_json,
                "decision": decision,
                "reaction": reaction.model_dump(mode="json"),
            }
        )
        return True

    def _step(self, kind: StepKind, name: str, text: str, point: int) -> Step:
        index = len(self.steps)
        return Step(index=index, ref=str(index), kind=kind, name=name, text=text, metadata={"decision_point": point})

    def _ask_agent(self, state: Any, point: int) -> list[Step] | None:
        """The agent's steps for this state, within the time limit; None when it failed (recorded as such)."""
        history = [{k: entry[k] for k in ("point", "at_local", "events", "decision", "reaction")} for entry in self.log]
        arguments = (state, self.llm, history) if self.wants_history else (state, self.llm)
        future = self.pool.submit(self.agent, *arguments)
        try:
            return list(future.result(timeout=self.timeout_s))
        except concurrent.futures.TimeoutError:
            self.status, self.error = "failed", f"agent ran past {self.timeout_s:.0f} s at decision {point + 1}"
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        except Exception as exc:  # the agent's failure is data: recorded, and the next journey goes on
            self.status, self.error = "failed", f"{type(exc).__name__} at decision {point + 1}: {exc}"
            self.extra["traceback"] = traceback.format_exc(limit=3)
        return None

    def _append_own(self, own: list[Step], point: int, state_json: dict) -> dict | None:
        """The agent's steps renumbered into the trace (a decision step carries the state it was made on);
        returns the decision they end with, if one parses."""
        decision = None
        for own_step in own:
            metadata = {**own_step.metadata, "decision_point": point}
            if own_step.kind is StepKind.decision:
                metadata["user_state"] = state_json
                decision = _json_object(own_step.text)
            index = len(self.steps)
            self.steps.append(own_step.model_copy(update={"index": index, "ref": str(index), "metadata": metadata, "parent_ref": None}))
        return decision


def _trace_metadata(journey: Journey, recorder: _JourneyRecorder, llm: LLMConfig, seed: int, repeat: int, started: datetime) -> dict:
    start = journey.start
    return {
        "journey_id": journey.id,
        "journey_kind": journey.kind,
        "journey_perturbations": list(journey.perturbations) or ["none"],
        "journey_steps": [entry["step"] for entry in recorder.log],
        "scenario_id": trace_id(journey.id, repeat),
        "segment": start.ltv_segment,
        "market": start.market,
        "lifecycle": start.lifecycle,
        "perturbations": list(start.perturbations),
        "seed": seed,
        "repeat": repeat,
        "agent_model": llm.model,
        "recorded_at": started.isoformat(),
        "status": recorder.status,
        "origin": journey.origin,
        "response_model": recorder.model.source,
        "user_state": start.model_dump(mode="json"),
        "journey": journey.model_dump(mode="json"),
        "journey_log": recorder.log,
    }


def record_journeys(
    journeys: Iterable[Journey],
    agent: Agent,
    llm: LLMConfig,
    *,
    seed: int = 0,
    repeats: int = 1,
    model: ResponseModel | None = None,
    timeout_s: float = 600.0,
    done: frozenset[str] = frozenset(),
) -> Iterator[Trace]:
    """Each journey `repeats` times (for pass^k), skipping trace ids in `done` (resuming)."""
    policy = load_policy()
    for journey in journeys:
        for repeat in range(repeats):
            if trace_id(journey.id, repeat) not in done:
                yield record_journey(journey, agent, llm, seed=seed, repeat=repeat, model=model, policy=policy, timeout_s=timeout_s)
