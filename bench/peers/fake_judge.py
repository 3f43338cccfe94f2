"""The one fake judge every tool in the peer benchmark talks to: OpenAI-compatible HTTP on 127.0.0.1.

Each tool gets its own base URL, `http://127.0.0.1:PORT/<tag>/v1`, so requests, tokens and concurrency
are counted per run without trusting any tool's own accounting.  Every request waits `latency_s`, then
gets an answer in the form that tool asked for:

- a JSON schema (`response_format`) or a forced tool call: an instance of that schema, with the same
  one-sentence reason every tool gets;
- free text: the format the tool's own prompt asks for (Inspect's `GRADE: C`, promptfoo's
  `{reason, pass, score}`, Ragas' `{reason, verdict}`, G-Eval's `{steps}` and `{score, reason}`).

Prompt tokens are counted with tiktoken's cl100k_base over the message text; a schema sent as
`response_format` or `tools` is counted apart, so prompt sizes compare across tools.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REASON = "The decision follows from the user's consent, local time and recent contact history, so it meets the criterion."
STEPS = [
    "Read the user's state and the agent's answer.",
    "Check the answer against the criterion.",
    "Score how well the answer meets the criterion.",
]


def _encoder():
    import chainjudge.offline  # noqa: F401  (points tiktoken at litellm's bundled encodings: no download)
    import tiktoken

    return tiktoken.get_encoding("cl100k_base")


def message_text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts
        content = "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    text = content or ""
    for call in message.get("tool_calls") or []:
        text += json.dumps(call.get("function", {}))
    return str(text)


def schema_of(body: dict) -> dict | None:
    fmt = body.get("response_format") or {}
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return fmt.get("json_schema", {}).get("schema") or {}
    tools = body.get("tools") or []
    if tools:
        return tools[0].get("function", {}).get("parameters") or {}
    return None


def instance(schema: dict, defs: dict, name: str = "") -> object:
    """A plausible instance of a JSON schema: reasons get REASON, steps get STEPS, scores their maximum."""
    if "$ref" in schema:
        return instance(defs[schema["$ref"].split("/")[-1]], defs, name)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return instance(options[0], defs, name)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        required = schema.get("required")
        return {n: instance(s, defs, n) for n, s in props.items() if required is None or n in required}
    if kind == "array":
        if name == "steps":
            return list(STEPS)
        return [instance(schema.get("items", {}), defs, name.rstrip("s"))]
    if kind in ("integer", "number"):
        if "maximum" in schema:
            return schema["maximum"]
        if name == "score":
            return 8 if kind == "integer" else 0.8
        return 1
    if kind == "boolean":
        return True
    return REASON if any(w in name for w in ("reason", "rational", "explan", "evidence", "thought")) else "ok"


def text_answer(tag: str, prompt: str) -> str:
    """The free-text answer a tool's own prompt asks for."""
    if "GRADE:" in prompt:  # Inspect's model_graded_qa
        return f"{REASON}\n\nGRADE: C"
    if '"verdict"' in prompt or "verdict" in prompt and "Ragas" in prompt:
        return json.dumps({"reason": REASON, "verdict": 1})
    if re.search(r'"?steps"?\s*:', prompt) and "score" not in prompt.split("steps")[-1][:200]:
        return json.dumps({"steps": STEPS})
    if '"pass"' in prompt or "pass" in prompt and "reason" in prompt and "score" in prompt:
        return json.dumps({"reason": REASON, "pass": True, "score": 1.0})
    if "score" in prompt:
        return json.dumps({"score": 8, "reason": REASON})
    return REASON


class Tally:
    """What one tag's requests cost: counts, tokens, the distinct prompts, peak concurrency."""

    def __init__(self) -> None:
        self.requests = 0
        self.prompt_tokens = 0
        self.schema_tokens = 0
        self.completion_tokens = 0
        self.prompts: set[int] = set()
        self.in_flight = 0
        self.peak = 0
        self.first = self.last = 0.0
        self.paths: dict[str, int] = defaultdict(int)

    def as_dict(self) -> dict:
        return {"requests": self.requests, "prompt_tokens": self.prompt_tokens, "schema_tokens": self.schema_tokens,
                "completion_tokens": self.completion_tokens, "distinct_prompts": len(self.prompts), "peak_in_flight": self.peak,
                "judge_phase_s": max(0.0, self.last - self.first), "paths": dict(self.paths)}


class PeerJudge:
    def __init__(self, latency_s: float = 0.2, log_bodies: str | None = None) -> None:
        self.latency_s = latency_s
        self.tallies: dict[str, Tally] = defaultdict(Tally)
        self.lock = threading.Lock()
        self.log_bodies = log_bodies
        self.encoder = _encoder()
        self.server: ThreadingHTTPServer | None = None

    def url(self, tag: str) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/{tag}/v1"

    def stats(self, tag: str) -> dict:
        with self.lock:
            return self.tallies[tag].as_dict()

    def tokens(self, text: str) -> int:
        return len(self.encoder.encode(text, disallowed_special=()))

    def answer(self, tag: str, body: dict) -> tuple[dict, int, int, int]:
        messages = body.get("messages") or []
        prompt = "\n".join(message_text(m) for m in messages)
        schema = schema_of(body)
        schema_tokens = 0
        if schema is not None:
            schema_tokens = self.tokens(json.dumps(body.get("response_format") or body.get("tools")))
            text = json.dumps(instance(schema, schema.get("$defs", schema.get("definitions", {}))))
        else:
            text = text_answer(tag, prompt)
        message: dict = {"role": "assistant", "content": text}
        if body.get("tools") and schema is not None:
            name = body["tools"][0]["function"]["name"]
            message = {"role": "assistant", "content": None,
                       "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": name, "arguments": text}}]}
        prompt_tokens, completion_tokens = self.tokens(prompt), self.tokens(text)
        n = max(1, int(body.get("n") or 1))
        completion = {
            "id": f"chatcmpl-{time.monotonic_ns()}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake"), "system_fingerprint": "fake",
            "choices": [{"index": i, "message": message, "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                         "logprobs": None} for i in range(n)],
            "usage": {"prompt_tokens": prompt_tokens + schema_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + schema_tokens + completion_tokens},
        }
        return completion, prompt_tokens, schema_tokens, completion_tokens * n

    def start(self) -> "PeerJudge":
        judge = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body, written apart, wait out a delayed ACK (~40 ms)

            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                tag = self.path.strip("/").split("/", 1)[0]
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {}
                tally = judge.tallies[tag]
                with judge.lock:
                    now = time.monotonic()
                    tally.first = tally.first or now
                    tally.in_flight += 1
                    tally.peak = max(tally.peak, tally.in_flight)
                    tally.paths[self.path.split("/v1", 1)[-1]] += 1
                try:
                    time.sleep(judge.latency_s)
                    if not self.path.endswith("/chat/completions"):
                        self._send(404, {"error": {"message": f"the fake judge only serves chat completions, not {self.path}"}})
                        return
                    completion, prompt, schema, completion_tokens = judge.answer(tag, body)
                    with judge.lock:
                        tally.requests += 1
                        tally.prompt_tokens += prompt
                        tally.schema_tokens += schema
                        tally.completion_tokens += completion_tokens
                        tally.prompts.add(hash(json.dumps(body.get("messages"), sort_keys=True)))
                        if judge.log_bodies:
                            with open(judge.log_bodies, "a") as log:
                                log.write(json.dumps({"tag": tag, "request": body, "answer": completion["choices"][0]["message"]}) + "\n")
                    self._send(200, completion)
                finally:
                    with judge.lock:
                        tally.in_flight -= 1
                        tally.last = time.monotonic()

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

            def handle_error(self, request, client_address) -> None:
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
