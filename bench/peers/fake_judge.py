"""The one fake judge every tool in the peer benchmark talks to: chainjudge's own FakeJudgeServer
(OpenAI-compatible HTTP on 127.0.0.1) with answers in each tool's format and per-run accounting.

Each tool gets its own base URL, `http://127.0.0.1:PORT/<tag>/v1`, so requests, tokens and concurrency
are counted per run from the server's own record, without trusting any tool's accounting; tokens are
counted afterwards, off the timed path.  Every request waits `latency_s`, then gets an answer in the form
that tool asked for:

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

from chainjudge.testing.fakejudge import FakeJudgeServer, request_schema

REASON = "The decision follows from the user's consent, local time and recent contact history, so it meets the criterion."
STEPS = [
    "Read the user's state and the agent's answer.",
    "Check the answer against the criterion.",
    "Score how well the answer meets the criterion.",
]


def _encoder():
    import tiktoken

    import chainjudge.core.offline  # noqa: F401  (points tiktoken at litellm's bundled encodings: no download)

    return tiktoken.get_encoding("cl100k_base")


def message_text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts
        content = "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    text = content or ""
    for call in message.get("tool_calls") or []:
        text += json.dumps(call.get("function", {}))
    return str(text)


def prompt_of(body: dict) -> str:
    return "\n".join(message_text(m) for m in body.get("messages") or [])


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


def text_answer(prompt: str) -> str:
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


def answer(body: dict) -> object:
    """What the fake judge says: an instance of the schema asked for, else the text the prompt asks for."""
    schema = request_schema(body)
    if schema is not None:
        return instance(schema, schema.get("$defs", schema.get("definitions", {})))
    return text_answer(prompt_of(body))


class PeerJudge:
    def __init__(self, latency_s: float = 0.2) -> None:
        self.server = FakeJudgeServer(latency_s=latency_s, answer=answer)
        self.encoder = _encoder()

    def start(self) -> "PeerJudge":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def url(self, tag: str) -> str:
        return self.server.url.removesuffix("/v1") + f"/{tag}/v1"

    def requests(self, tag: str) -> list[dict]:
        return [r for r in list(self.server.requests) if r["path"].startswith(f"/{tag}/")]

    def tokens(self, text: str) -> int:
        return len(self.encoder.encode(text, disallowed_special=()))

    def stats(self, tag: str) -> dict:
        """Requests, tokens (prompt, schema apart, completion), distinct prompts and peak concurrency of one tag."""
        done = [r for r in self.requests(tag) if "answered" in r]
        prompt = schema = completion = 0
        for r in done:
            body = r["body"]
            prompt += self.tokens(prompt_of(body))
            if request_schema(body) is not None:
                schema += self.tokens(json.dumps(body.get("response_format") or body.get("tools")))
            said = answer(body)
            completion += self.tokens(said if isinstance(said, str) else json.dumps(said))
        edges = sorted([(r["time"], 1) for r in done] + [(r["answered"], -1) for r in done], key=lambda e: (e[0], e[1]))
        peak = level = 0
        for _, step in edges:
            level += step
            peak = max(peak, level)
        return {
            "requests": len(done),
            "prompt_tokens": prompt,
            "schema_tokens": schema,
            "completion_tokens": completion,
            "distinct_prompts": len({json.dumps(r["body"].get("messages"), sort_keys=True) for r in done}),
            "peak_in_flight": peak,
            "judge_phase_s": (max(r["answered"] for r in done) - min(r["time"] for r in done)) if done else 0.0,
        }

    def dump(self, path: str) -> None:
        """Every request and the answer it got, as JSONL (for looking at what each tool really sends)."""
        with open(path, "w") as out:
            for r in list(self.server.requests):
                out.write(json.dumps({"path": r["path"], "request": r["body"], "answer": answer(r["body"])}) + "\n")
