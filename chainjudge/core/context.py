"""Long traces within a token budget (a rubric's `context:`): what the judge sees of a trace of hundreds
of steps, without the whole trace.

The prompt keeps the layout prefix caching needs (the system message, fixed per rubric, first).  The
user message holds, in this order of priority, each within what is left of the budget:
1. the judged step, whole up to its own share (cut beyond it with a visible note);
2. the task (the first user message) and, for a tool result, the call it answers: always kept;
3. the last `recent_steps` steps verbatim;
4. every earlier step as a one-line digest (kind, tool, arguments, result status), newest first until
   the budget is spent, then a line saying how many earlier steps are not shown.
The digest is deterministic text inside the prompt, so it is part of the prompt hash.  Tokens are
counted with cl100k_base; the whole prompt (system and user messages) never exceeds `tokens`.
"""

from __future__ import annotations

import functools
from typing import Any

from chainjudge.core.fencing import fence, one_line, system_message, truncate
from chainjudge.core.schema import ContextBudget, Criterion, JudgeSettings, Step, StepKind, Trace

_PER_MESSAGE = 4  # chat framing tokens per message (role, separators), as OpenAI counts them
_DIGEST_ARGS = 80
_DIGEST_TEXT = 100


@functools.lru_cache(maxsize=1)
def _encoding() -> Any:
    import tiktoken  # offline: the entry points point TIKTOKEN_CACHE_DIR at litellm's bundled files

    return tiktoken.get_encoding("cl100k_base")


@functools.lru_cache(maxsize=65536)
def count_tokens(text: str) -> int:
    return len(_encoding().encode(text, disallowed_special=()))


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """The tokens a prompt costs: its messages' contents plus the chat framing."""
    return sum(count_tokens(m["content"]) + _PER_MESSAGE for m in messages) + 2


def fit(text: str, max_tokens: int) -> str:
    """`text` if it fits in max_tokens, else its head and tail with a visible note, within max_tokens."""
    if count_tokens(text) <= max_tokens:
        return text
    chars = max(40, max_tokens * 3)
    cut = truncate(text, chars)
    while count_tokens(cut) > max_tokens and chars > 40:
        chars = int(chars * 0.8)
        cut = truncate(text, chars)
    return cut if count_tokens(cut) <= max_tokens else ""


def digest_line(step: Step, trace: Trace) -> str:
    """One deterministic line for an earlier step: kind, tool and arguments, or the result's status."""
    head = f"[{step.ref} {step.kind.value}]"
    if step.kind is StepKind.tool_call and step.tool_calls:
        calls = ", ".join(f"{c.name}({one_line(c.arguments, _DIGEST_ARGS)})" for c in step.tool_calls)
        return f"{head} calls {calls}"
    if step.kind is StepKind.tool_result:
        from chainjudge.core.trajectory import is_error_result

        status = "ERROR" if is_error_result(step) else "ok"
        return f"{head} {step.name or 'tool'} -> {status}, {len(step.text)} chars: {one_line(step.text, 60)}"
    return f"{head} {one_line(step.render(), _DIGEST_TEXT)}"


def _answered_call(trace: Trace, step: Step) -> Step | None:
    if step.kind is not StepKind.tool_result or not step.parent_ref:
        return None
    return next((s for s in trace.steps[: step.index] if s.ref == step.parent_ref and s.kind is StepKind.tool_call), None)


def context_lines(trace: Trace, step: Step, budget: ContextBudget, room: int) -> list[str]:
    """The earlier-steps section within `room` tokens (see the module docstring for the priorities)."""
    before = trace.steps[: step.index]
    task = next((s for s in before if s.kind is StepKind.user), None)
    answered = _answered_call(trace, step)
    pinned = [s for s in (task, answered) if s is not None]
    lines: dict[int, str] = {}
    spent = 0
    for s in pinned:  # always kept, each within a quarter of the room
        lines[s.index] = fit(f"[{s.ref} {s.kind.value}] {s.render()}", max(16, room // 4))
        spent += count_tokens(lines[s.index]) + 1
    others = [s for s in reversed(before) if s.index not in lines and s.kind is not StepKind.system]
    recent, earlier = others[: budget.recent_steps], others[budget.recent_steps :]
    share = max(32, (room - spent) // max(1, len(recent) + 1))
    for s in recent:
        line = fit(f"[{s.ref} {s.kind.value}] {s.render()}", share)
        cost = count_tokens(line) + 1
        if spent + cost > room:
            break
        lines[s.index], spent = line, spent + cost
    hidden = 0
    for s in earlier:
        line = digest_line(s, trace)
        cost = count_tokens(line) + 1
        if spent + cost > room - 16:  # keep room for the "not shown" line
            hidden = sum(1 for o in others if o.index not in lines)
            break
        lines[s.index], spent = line, spent + cost
    shown = [lines[i] for i in sorted(lines)]
    if hidden:  # the hidden steps are the oldest: the note goes after the task when the task opens the trace
        at = 1 if task is not None and min(lines) == task.index else 0
        shown.insert(at, f"[... {hidden} earlier steps not shown (context budget {budget.tokens} tokens) ...]")
    return shown or ["(no earlier steps)"]


def budgeted_messages(
    trace: Trace, step: Step, criteria: tuple[Criterion, ...], settings: JudgeSettings, budget: ContextBudget
) -> list[dict[str, Any]]:
    """The judge's prompt for one step, never over `budget.tokens` (raises ValueError when even the
    instructions and criteria do not fit: the budget is too small for the rubric)."""
    system = {"role": "system", "content": system_message(criteria, settings.ask_evidence)}
    fixed = prompt_tokens([system]) + _PER_MESSAGE + 64  # framing, both fences and their labels
    if fixed + 64 > budget.tokens:
        raise ValueError(f"context budget {budget.tokens} tokens is too small: the instructions and criteria alone take {fixed}")
    step_budget = min(budget.step_share, budget.tokens - fixed - 32)
    step_text = fit(step.render(), step_budget)
    room = budget.tokens - fixed - count_tokens(step_text)
    for _ in range(32):  # estimates converge in a few rounds; each round only shrinks
        context = "\n".join(context_lines(trace, step, budget, room)) if room > 16 else "(earlier steps omitted: budget)"
        user = "\n".join(
            [
                fence("Earlier steps (context, older ones as one-line digests):", context),
                fence(f"Step {step.ref} ({step.kind.value}) to judge:", step_text),
            ]
        )
        messages = [system, {"role": "user", "content": user}]
        over = prompt_tokens(messages) - budget.tokens
        if over <= 0:
            return messages
        if room > 16:
            room -= over + 8
        else:
            step_budget -= over + 8
            step_text = fit(step.render(), max(0, step_budget))
    raise ValueError(f"could not fit step {step.ref} of {trace.id} in {budget.tokens} tokens")
