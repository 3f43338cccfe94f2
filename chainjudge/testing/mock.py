"""An in-process mock judge for fast unit tests: no HTTP, no litellm.  Feed it verdicts with `enqueue`
(one per criterion, in call order) or give it a function of the work item; it returns Judgment records
exactly as the real judge does (verdict or error, provenance, cache key).  The package never imports
this module at run time.  For the real HTTP path, use `chainjudge.testing.fakejudge.FakeJudgeServer`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from chainjudge.core.schema import Judgment, Verdict, WorkItem

Answer = Callable[[WorkItem, str], Verdict | str]  # (item, criterion id) -> a verdict, or an error text


class MockJudge:
    """Answers from a script (enqueued labels, verdicts or error texts), else from `answer`, else the first
    label of the criterion's scale.  `calls` records every item judged."""

    def __init__(self, answer: Answer | None = None, name: str = "mock/judge") -> None:
        self.answer = answer
        self._name = name
        self.script: deque[Verdict | str] = deque()
        self.calls: list[WorkItem] = []

    @property
    def name(self) -> str:
        return self._name

    def enqueue(self, *answers: Verdict | str) -> None:
        """Labels (str without a colon), Verdicts, or 'kind: message' error texts, one per criterion."""
        self.script.extend(answers)

    async def judge(self, item: WorkItem, limiter=None) -> list[Judgment]:
        self.calls.append(item)
        return [self._judgment(item, criterion) for criterion in item.criteria]

    def _judgment(self, item: WorkItem, criterion) -> Judgment:
        if self.script:
            given = self.script.popleft()
        elif self.answer is not None:
            given = self.answer(item, criterion.id)
        else:
            given = criterion.scale.labels[0]
        if isinstance(given, str) and ":" not in given:
            given = Verdict(rationale="scripted", label=given)
        common = dict(
            **item.identity(criterion.id, self.name),
            flags=item.flags,
        )
        if isinstance(given, str):
            return Judgment(**common, error=given, error_kind=given.split(":", 1)[0])
        return Judgment(**common, verdict=given, passed=criterion.scale.passes(given.label))
