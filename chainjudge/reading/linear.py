"""Agent-framework trajectories that are already a sequence of turns: ATIF, SWE-agent `.traj`, and
OpenHands event streams.  Each adapter pairs tool calls with their results and keeps the agent's own
text (thought / analysis) as a reasoning or message step."""

from __future__ import annotations

import json
from typing import Any

from chainjudge.core.schema import Step, StepKind, ToolCall, Trace
from chainjudge.reading.records import file_stem


class _Steps:
    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.calls: dict[str, str] = {}  # tool call id -> ref

    def add(self, ref: str, kind: StepKind, **fields) -> Step:
        step = Step(index=len(self.steps), ref=ref, kind=kind, **fields)
        self.steps.append(step)
        return step

    def call(self, ref: str, text: str, calls: list[ToolCall]) -> None:
        self.add(ref, StepKind.tool_call, text=text, tool_calls=calls)
        for c in calls:
            if c.id:
                self.calls[c.id] = ref

    def result(self, ref: str, text: str, call_id: str | None, name: str | None = None, fallback: str | None = None) -> None:
        owner = self.calls.get(call_id) if call_id else None
        self.add(ref, StepKind.tool_result, text=text, tool_call_id=call_id, name=name, parent_ref=owner or fallback)

    def finish(self) -> list[Step]:
        for step in reversed(self.steps):  # the agent's last word is its decision
            if step.kind in (StepKind.message, StepKind.reasoning):
                self.steps[step.index] = step.model_copy(update={"kind": StepKind.decision})
                break
            if step.kind is StepKind.tool_result:
                break
        return self.steps


def _args(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


# ---------------------------------------------------------------- ATIF


class atif:  # noqa: N801 - a namespace with the adapter interface
    NAME = "atif"
    EXPECTS = "ATIF: {schema_version: ATIF-..., steps: [{source, message, tool_calls, observation}]}"

    @staticmethod
    def sniff(record: object) -> bool:
        return (
            isinstance(record, dict)
            and str(record.get("schema_version", "")).upper().startswith("ATIF")
            and isinstance(record.get("steps"), list)
        )

    @staticmethod
    def add_step(out: _Steps, sid: str, raw: dict[str, Any]) -> None:
        """One ATIF step: a user or system message, the agent's message or tool calls, and the observations."""
        text = raw.get("message") if isinstance(raw.get("message"), str) else _args(raw.get("message") or "")
        source_kind = raw.get("source")
        calls = [
            ToolCall(id=c.get("tool_call_id"), name=str(c.get("function_name") or c.get("name")), arguments=_args(c.get("arguments", "")))
            for c in raw.get("tool_calls") or []
            if isinstance(c, dict)
        ]
        if source_kind in ("user", "system"):
            out.add(sid, StepKind.user if source_kind == "user" else StepKind.system, text=text)
        elif calls:
            out.call(sid, text or "", calls)
        else:
            out.add(sid, StepKind.message, text=text)
        for j, result in enumerate((raw.get("observation") or {}).get("results") or []):
            call_id = result.get("source_call_id") or (calls[j].id if j < len(calls) else None)
            out.result(f"{sid}:obs{j}", _args(result.get("content", "")), call_id, fallback=sid)

    @staticmethod
    def parse(record: Any, source: str, label: str) -> Trace:
        if not atif.sniff(record):
            raise ValueError("not an ATIF trajectory (schema_version ATIF-..., steps)")
        out = _Steps()
        for i, raw in enumerate(record["steps"]):
            if not isinstance(raw, dict):
                raise ValueError(f"steps[{i}] must be an object")
            atif.add_step(out, str(raw.get("step_id", i)), raw)
        agent = record.get("agent") or {}
        return Trace(
            id=str(record.get("session_id") or f"{file_stem(source)}:{label}"),
            steps=out.finish(),
            source=f"{source}:{label}",
            format=atif.NAME,
            metadata={k: v for k, v in {"agent": agent.get("name"), "model": agent.get("model_name")}.items() if v},
        )


# ---------------------------------------------------------------- SWE-agent


class swe_agent:  # noqa: N801
    NAME = "swe-agent"
    EXPECTS = "SWE-agent .traj: {trajectory: [{thought, action, observation}], history, info}"

    @staticmethod
    def sniff(record: object) -> bool:
        return isinstance(record, dict) and isinstance(record.get("trajectory"), list) and ("history" in record or "info" in record)

    @staticmethod
    def add_turn(out: _Steps, i: int, turn: dict[str, Any], calls_here: list[dict[str, Any]] | None) -> None:
        """One trajectory turn: its thought and action (a structured call in the newer format, a command line in
        the older), and what the environment answered."""
        thought = str(turn.get("thought") or "")
        action = str(turn.get("action") or "").strip()
        if calls_here:  # newer format: function calling, the history holds the structured call
            fn = calls_here[0].get("function", {})
            calls = [ToolCall(id=calls_here[0].get("id"), name=str(fn.get("name")), arguments=_args(fn.get("arguments", "")))]
        else:  # older format: a command line
            calls = [ToolCall(name=action.split()[0] if action else "action", arguments=action)]
        if action:
            out.call(f"trajectory:{i}", thought, calls)
            out.result(f"trajectory:{i}:obs", str(turn.get("observation") or ""), calls[0].id, fallback=f"trajectory:{i}")
        elif thought:
            out.add(f"trajectory:{i}", StepKind.reasoning, text=thought)

    @staticmethod
    def parse(record: Any, source: str, label: str) -> Trace:
        if not swe_agent.sniff(record):
            raise ValueError("not a SWE-agent trajectory (trajectory, history)")
        out = _Steps()
        history = record.get("history") or []
        for i, message in enumerate(history):  # the task: system prompt and first user turn(s)
            if not isinstance(message, dict) or message.get("role") not in ("system", "user"):
                break
            content = message.get("content")
            text = content if isinstance(content, str) else _args(content)
            out.add(f"history:{i}", StepKind.system if message["role"] == "system" else StepKind.user, text=text)
        call_ids = [m.get("tool_calls") for m in history if isinstance(m, dict) and m.get("role") == "assistant"]
        for i, turn in enumerate(record["trajectory"]):
            if not isinstance(turn, dict):
                raise ValueError(f"trajectory[{i}] must be an object")
            swe_agent.add_turn(out, i, turn, call_ids[i] if i < len(call_ids) and call_ids[i] else None)
        info = record.get("info") or {}
        steps = out.finish()
        if steps and steps[-1].kind is StepKind.tool_result and info.get("submission") is not None:
            steps.append(
                Step(
                    index=len(steps),
                    ref="info:submission",
                    kind=StepKind.decision,
                    text=f"[submitted, exit status {info.get('exit_status')}]\n{info.get('submission')}",
                )
            )
        return Trace(
            id=f"{file_stem(source)}:{label}" if label != "item 0" else file_stem(source),
            steps=steps,
            source=f"{source}:{label}",
            format=swe_agent.NAME,
            metadata={k: v for k, v in {"exit_status": info.get("exit_status")}.items() if v is not None},
        )


# ---------------------------------------------------------------- OpenHands


class openhands:  # noqa: N801
    NAME = "openhands"
    EXPECTS = "OpenHands event stream: [{id, source, action | observation, cause, args}]"
    _NOISE_ACTIONS = {"change_agent_state", "null", None}
    _NOISE_OBSERVATIONS = {"agent_state_changed", "null"}

    @staticmethod
    def sniff(record: object) -> bool:
        return (
            isinstance(record, list)
            and bool(record)
            and all(isinstance(e, dict) and "source" in e and ("action" in e or "observation" in e) for e in record[:20])
        )

    @staticmethod
    def add_action(out: _Steps, eid: str, event: dict[str, Any], meta: dict[str, Any]) -> None:
        """An action event: a message, a thought, the finish, or a tool call (bookkeeping actions are left out)."""
        action = event.get("action")
        if action in openhands._NOISE_ACTIONS:
            return
        args = event.get("args") or {}
        message = str(event.get("message") or args.get("content") or "")
        thought = str(args.get("thought") or "")
        if action == "message":
            out.add(eid, StepKind.user if event.get("source") == "user" else StepKind.message, text=message)
        elif action == "think":
            out.add(eid, StepKind.reasoning, text=thought or message)
        elif action == "finish":
            out.add(eid, StepKind.decision, text=str(args.get("final_thought") or args.get("outputs") or message))
        else:
            arguments = {k: v for k, v in args.items() if k not in ("thought",) and v not in (None, "")}
            call = ToolCall(id=meta.get("tool_call_id") or eid, name=str(meta.get("function_name") or action), arguments=_args(arguments))
            out.call(eid, thought, [call])

    @staticmethod
    def parse(record: Any, source: str, label: str) -> Trace:
        if not openhands.sniff(record):
            raise ValueError("not an OpenHands event stream")
        out = _Steps()
        for i, event in enumerate(record):
            eid = str(event.get("id", i))
            meta = event.get("tool_call_metadata") or {}
            if "action" in event:
                openhands.add_action(out, eid, event, meta)
                continue
            observation = event.get("observation")
            if observation in openhands._NOISE_OBSERVATIONS:
                continue
            cause = str(event.get("cause")) if event.get("cause") is not None else None
            call_id = meta.get("tool_call_id") or cause
            out.result(eid, str(event.get("content") or event.get("message") or ""), call_id, name=observation, fallback=cause)
        return Trace(
            id=f"{file_stem(source)}:{label}" if label != "item 0" else file_stem(source),
            steps=out.finish(),
            source=f"{source}:{label}",
            format=openhands.NAME,
        )


# ---------------------------------------------------------------- DevAI / Agent-as-a-Judge


class devai:  # noqa: N801
    """DevAI (Agent-as-a-Judge) trajectories: a JSON list of steps, each with the user's message, the
    agent's thought and action, what the environment answered, and token usage."""

    NAME = "devai"
    EXPECTS = "DevAI trajectory: [{step, user_message, agent: {thought, action}, environment, step_usage}]"

    @staticmethod
    def sniff(record: object) -> bool:
        return (
            isinstance(record, list)
            and bool(record)
            and all(
                isinstance(s, dict)
                and "step" in s
                and isinstance(s.get("agent"), (dict, type(None)))
                and ("environment" in s or "user_message" in s)
                for s in record[:20]
            )
        )

    @staticmethod
    @staticmethod
    def add_entry(out: _Steps, ref: str, entry: dict[str, Any]) -> None:
        """One DevAI entry: the user's message, the agent's thought and action, the environment's answer."""
        if entry.get("user_message"):
            out.add(f"{ref}.user", StepKind.user, text=str(entry["user_message"]))
        agent = entry.get("agent") or {}
        if agent.get("thought"):
            out.add(f"{ref}.thought", StepKind.reasoning, text=str(agent["thought"]))
        action = agent.get("action")
        if action not in (None, ""):
            extra = {k: v for k, v in agent.items() if k not in ("thought", "action") and v not in (None, "")}
            name = str(extra.pop("tool", None) or extra.pop("action_type", None) or "action")
            arguments = _args({"action": action, **extra}) if extra else _args(action)
            out.call(f"{ref}.action", "", [ToolCall(id=f"{ref}.action", name=name, arguments=arguments)])
        if entry.get("environment") not in (None, ""):
            out.result(f"{ref}.env", _args(entry["environment"]), f"{ref}.action" if action not in (None, "") else None)

    def parse(record: Any, source: str, label: str) -> Trace:
        if not devai.sniff(record):
            raise ValueError("not a DevAI trajectory (a list of {step, user_message, agent, environment})")
        out = _Steps()
        usage = {"prompt_tokens": 0, "completion_tokens": 0}
        for position, entry in enumerate(record):
            devai.add_entry(out, str(entry.get("step", position)), entry)
            for key in usage:
                value = (entry.get("step_usage") or {}).get(key)
                usage[key] += int(value) if isinstance(value, (int, float)) else 0
        stem = file_stem(source)
        return Trace(
            id=stem if label == "item 0" else f"{stem}:{label}",
            steps=out.finish(),
            source=f"{source}:{label}",
            format=devai.NAME,
            metadata={"usage": usage},
        )
