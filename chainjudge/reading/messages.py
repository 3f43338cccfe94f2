"""Normalise the many shapes an LLM call's messages are recorded in, into one small form.

Observability exports carry messages as OpenAI chat messages, OpenTelemetry GenAI `parts`, OpenAI
Responses API items, LangChain message dicts, any-agent tool lists, or a chat completion, often as a
JSON string, sometimes as a Python repr.  Every trace-format adapter uses `to_messages` so they agree on
what a message is.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Call:
    name: str
    arguments: str
    id: str | None = None


@dataclass
class Msg:
    role: str  # system | user | assistant | tool
    text: str = ""
    calls: list[Call] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None

    def fingerprint(self) -> str:
        """The message's identity for spotting replays; computed once (a span kept in memory by the receiver
        is walked again on every export of its trace)."""
        cached = self.__dict__.get("_fingerprint")
        if cached is None:
            cached = json.dumps([self.role, self.text, [(c.name, c.arguments) for c in self.calls], self.tool_call_id])
            self.__dict__["_fingerprint"] = cached
        return cached


def decode(value: object) -> object:
    """A JSON string, a Python-repr string ('None', "{'a': 1}") or a value already decoded."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text in ("", "None", "null"):
        return None
    if text[0] in '[{"' or text in ("true", "false") or text[0].isdigit():
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            try:
                return ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return value
    return value


def _args(value: object) -> str:
    value = decode(value) if isinstance(value, str) else value
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str) if value is not None else ""


def _text(content: object) -> str:
    content = decode(content)
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                kind = part.get("type")
                if kind in ("tool_call", "function_call", "tool_use", "tool_call_response", "tool_result"):
                    continue  # carried as calls / results, not text
                for key in ("text", "content", "output_text", "value"):
                    if isinstance(part.get(key), str):
                        parts.append(part[key])
                        break
        return "\n".join(p for p in parts if p)
    if isinstance(content, dict):
        for key in ("text", "content", "output"):
            if isinstance(content.get(key), str):
                return content[key]
        return json.dumps(content, ensure_ascii=False, default=str)
    return str(content)


def _role(raw: object) -> str:
    role = str(raw or "assistant").lower()
    return {"human": "user", "ai": "assistant", "model": "assistant", "function": "tool", "developer": "system"}.get(role, role)


def _calls_of(message: dict) -> list[Call]:
    calls = []
    raw_calls = message.get("tool_calls") or (message.get("additional_kwargs") or {}).get("tool_calls") or []
    for call in raw_calls if isinstance(raw_calls, list) else []:
        if not isinstance(call, dict):
            continue
        fn: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else call
        name = fn.get("name") or call.get("function_name") or call.get("name")
        if name:
            calls.append(
                Call(
                    name=str(name),
                    arguments=_args(fn.get("arguments", call.get("args", ""))),
                    id=call.get("id") or call.get("tool_call_id"),
                )
            )
    for part in message.get("parts") or (message.get("content") if isinstance(message.get("content"), list) else []) or []:
        if isinstance(part, dict) and part.get("type") in ("tool_call", "function_call", "tool_use") and part.get("name"):
            calls.append(
                Call(
                    name=str(part["name"]),
                    arguments=_args(part.get("arguments", part.get("input", ""))),
                    id=part.get("id") or part.get("call_id"),
                )
            )
    return calls


def _tool_item(item: dict, kind: object) -> list[Msg] | None:
    """An OpenAI Responses API item (function call, its output, reasoning) or an any-agent tool record
    ({"tool.name": ..., "tool.args": ...}) as messages; None for anything else."""
    if kind == "function_call":
        return [
            Msg(role="assistant", calls=[Call(name=str(item.get("name")), arguments=_args(item.get("arguments")), id=item.get("call_id"))])
        ]
    if kind == "function_call_output":
        return [Msg(role="tool", text=_text(item.get("output")), tool_call_id=item.get("call_id"))]
    if kind == "reasoning":
        summary = item.get("summary") or []
        return [Msg(role="assistant", text=_text(summary))] if summary else []
    if "tool.name" in item:
        return [Msg(role="assistant", calls=[Call(name=str(item["tool.name"]), arguments=_args(item.get("tool.args")))])]
    return None


def _one(item: object) -> list[Msg]:
    if isinstance(item, str):
        return [Msg(role="assistant", text=item)]
    if not isinstance(item, dict):
        return []
    kind = item.get("type")
    single = _tool_item(item, kind)
    if single is not None:
        return single
    # a chat completion / a Responses API response
    if isinstance(item.get("choices"), list):
        return [m for choice in item["choices"] if isinstance(choice, dict) for m in _one(choice.get("message") or {})]
    if isinstance(item.get("output"), list) and "role" not in item:
        return to_messages(item["output"])
    if "messages" in item and isinstance(item["messages"], list) and "role" not in item:
        return to_messages(item["messages"])
    if "role" not in item and "type" in item and kind in ("human", "ai", "system", "tool"):
        item = {**item, "role": kind}
    role = _role(item.get("role"))
    parts = item.get("parts")
    if isinstance(parts, list):  # OpenTelemetry GenAI messages
        results = [p for p in parts if isinstance(p, dict) and p.get("type") in ("tool_call_response", "tool_result")]
        if results:
            return [Msg(role="tool", text=_text(r.get("response", r.get("content"))), tool_call_id=r.get("id")) for r in results]
        return [Msg(role=role, text=_text(parts), calls=_calls_of(item))]
    if role == "tool":
        return [Msg(role="tool", text=_text(item.get("content")), tool_call_id=item.get("tool_call_id"), name=item.get("name"))]
    text = _text(item.get("content", item.get("text")))
    if "role" not in item and not text and "finish_reason" not in item:
        return []
    return [Msg(role=role, text=text, calls=_calls_of(item))]


def to_messages(value: object) -> list[Msg]:
    """Every message found in a recorded input or output value."""
    value = decode(value)
    if value is None:
        return []
    if isinstance(value, list):
        return [m for item in value for m in _one(decode(item))]
    return _one(value)
