"""A scripted, fault-injecting fake OpenAI-compatible judge server, for tests and benchmarks.

It speaks real HTTP on 127.0.0.1 so the whole litellm/instructor/httpx path is exercised.  Each request
takes the next scripted action (an answer, a status code with headers, a delay, a dropped connection);
when the script is empty it answers with a valid object synthesised from the request's JSON schema (or
from `answer`, a callable given the request body).  Every request is recorded for assertions.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Action:
    status: int = 200
    content: object = None  # dict -> JSON content; str -> raw content; None -> synthesised
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False  # close the connection without answering
    truncate: bool = False  # send a cut-off JSON body


@dataclass
class Faults:
    """Random faults for load tests: each rate is a probability per request."""

    rate_429: float = 0.0
    rate_429_no_header: float = 0.0
    rate_5xx: float = 0.0
    rate_drop: float = 0.0
    rate_slow: float = 0.0
    rate_truncated: float = 0.0
    rate_invalid: float = 0.0
    slow_s: float = 3.0
    seed: int = 0


def synthesise(schema: dict, defs: dict | None = None) -> object:
    """A small valid instance of a JSON schema (first enum value, 'ok' strings, minimum numbers)."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return synthesise(defs[schema["$ref"].split("/")[-1]], defs)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"] or schema["anyOf"]
        return synthesise(options[0], defs)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        required = schema.get("required")
        props = schema.get("properties", {})
        return {n: synthesise(sub, defs) for n, sub in props.items() if required is None or n in required}
    if kind == "array":
        return [synthesise(schema.get("items", {}), defs)]
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "number":
        return schema.get("minimum", 0.5)
    if kind == "boolean":
        return True
    return "ok"


def request_schema(body: dict) -> dict | None:
    fmt = body.get("response_format") or {}
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return fmt.get("json_schema", {}).get("schema")
    tools = body.get("tools") or []
    if tools:
        return tools[0].get("function", {}).get("parameters")
    return None


def _per_criterion(content: object, schema: dict | None) -> object:
    """A scripted single verdict answers every criterion of a batched request (one property per criterion)."""
    if isinstance(content, dict) and "label" in content and schema and "label" not in schema.get("properties", {"label": 1}):
        return {name: dict(content) for name in schema.get("properties", {})}
    return content


LABEL_PROBS = "_label_probs"  # in a scripted answer: label -> probability, served as token log-probabilities
_TOKENS = re.compile(r"\s*\w+|\s*\W")


def token_logprobs(text: str, label_probs: dict[str, float], top: int) -> list[dict]:
    """An OpenAI-shaped `logprobs.content` for an answer: word and punctuation tokens, and at the label's
    value the labels as alternatives with the given probabilities (as llama.cpp and OpenAI return them)."""
    tokens = _TOKENS.findall(text)
    value = re.search(r'"label"\s*:\s*"?', text)
    start = value.end() if value else -1
    ranked = sorted(label_probs.items(), key=lambda kv: -kv[1])[:top]
    content, offset = [], 0
    for token in tokens:
        alternatives = [{"token": token, "logprob": 0.0, "bytes": None}]
        logprob = 0.0
        if offset == start:
            alternatives = [{"token": label, "logprob": math.log(max(p, 1e-12)), "bytes": None} for label, p in ranked]
            logprob = math.log(max(label_probs.get(token.strip(), 1e-12), 1e-12))
        content.append({"token": token, "logprob": logprob, "bytes": None, "top_logprobs": alternatives})
        offset += len(token)
    return content


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # clients that time out and hang up are normal here
        pass


class _FakeHandler(BaseHTTPRequestHandler):
    """Answers as an OpenAI-compatible server, following the script of the FakeJudgeServer it belongs to."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body, written apart, wait out a delayed ACK (~40 ms)
    fake: "FakeJudgeServer"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": [{"id": "fake"}]}).encode(), {})
        else:
            self._send(404, b"{}", {})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        record = {"path": self.path, "headers": dict(self.headers), "body": body, "time": time.monotonic()}
        with self.fake._lock:
            self.fake.requests.append(record)
        try:
            self._answer(body, self.fake._next_action())
        finally:
            record["answered"] = time.monotonic()  # with "time": how long it was in flight

    def _answer(self, body: dict, action: "Action") -> None:
        if self.fake.latency_s:
            time.sleep(self.fake.latency_s)
        if action.delay_s:
            time.sleep(action.delay_s)
        if action.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        if action.status != 200:
            error = {"error": {"message": f"fake judge says {action.status}", "type": "fake", "code": action.status}}
            self._send(action.status, json.dumps(error).encode(), action.headers)
            return
        payload = json.dumps(self.fake._completion(body, action)).encode()
        if action.truncate:
            payload = payload[: len(payload) // 2]
        self._send(200, payload, action.headers)


class FakeJudgeServer:
    def __init__(
        self,
        latency_s: float = 0.0,
        answer: Callable[[dict], object] | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.latency_s = latency_s
        self.answer = answer
        self.faults = faults
        self.script: deque[Action] = deque()
        self.requests: list[dict] = []
        self.injected: Counter = Counter()  # faults injected at random, by kind
        self._lock = threading.Lock()
        self._rng = random.Random(faults.seed if faults else 0)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting
    def enqueue(self, *actions: Action) -> None:
        with self._lock:
            self.script.extend(actions)

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def _next_action(self) -> Action:
        with self._lock:
            if self.script:
                return self.script.popleft()
            if self.faults is None:
                return Action()
            f, r = self.faults, self._rng.random()
            for kind, rate, action in (
                ("429 with Retry-After", f.rate_429, Action(status=429, headers={"Retry-After": "1"})),
                ("429 without Retry-After", f.rate_429_no_header, Action(status=429)),
                ("500/502/503", f.rate_5xx, Action(status=self._rng.choice([500, 502, 503]))),
                ("connection reset", f.rate_drop, Action(drop=True)),
                ("very slow answer", f.rate_slow, Action(delay_s=f.slow_s)),
                ("truncated JSON", f.rate_truncated, Action(truncate=True)),
                ("schema-invalid JSON", f.rate_invalid, Action(content={"unexpected": "shape"})),
            ):
                if r < rate:
                    self.injected[kind] += 1
                    return action
                r -= rate
            return Action()

    def _completion(self, body: dict, action: Action) -> dict:
        if action.content is None:
            if self.answer is not None:
                content = _per_criterion(self.answer(body), request_schema(body))
            else:
                schema = request_schema(body)
                content = synthesise(schema) if schema else "ok"
        else:
            content = action.content
        label_probs = content.pop(LABEL_PROBS, None) if isinstance(content, dict) else None
        text = content if isinstance(content, str) else json.dumps(content)
        prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        message: dict = {"role": "assistant", "content": text}
        if body.get("tools") and not isinstance(content, str):
            name = body["tools"][0]["function"]["name"]
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": name, "arguments": text}}],
            }
        choice: dict = {"index": 0, "message": message, "finish_reason": "stop"}
        if body.get("logprobs") and label_probs:
            choice["logprobs"] = {"content": token_logprobs(text, label_probs, int(body.get("top_logprobs") or 5))}
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [choice],
            "usage": {
                "prompt_tokens": max(1, prompt_chars // 4),
                "completion_tokens": max(1, len(text) // 4),
                "total_tokens": max(1, prompt_chars // 4) + max(1, len(text) // 4),
            },
        }

    # -- lifecycle
    def start(self) -> "FakeJudgeServer":
        handler = type("Handler", (_FakeHandler,), {"fake": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeJudgeServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
