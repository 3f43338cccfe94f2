"""Inspect AI's model_graded_qa as the scorer, one per criterion, over the recorded answers (no generation)."""

from __future__ import annotations

import os

from _job import Clock, load_job, report

job = load_job()
os.chdir(job["work_dir"])

from inspect_ai import Task  # noqa: E402
from inspect_ai import eval as inspect_eval  # noqa: E402
from inspect_ai.dataset import Sample  # noqa: E402
from inspect_ai.model import ModelOutput, get_model  # noqa: E402
from inspect_ai.scorer import model_graded_qa  # noqa: E402
from inspect_ai.solver import Generate, TaskState, solver  # noqa: E402

# model_graded_qa grades against the sample's target, so the criterion is the target and each
# (item, criterion) pair is one sample: K criteria cost K samples, as K scorers would.
answers = {f"{i['id']}::{c['id']}": i["output"] for i in job["items"] for c in job["criteria"]}


@solver
def recorded_answer():
    """The agent's recorded answer becomes the output; nothing is generated."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state.output = ModelOutput.from_content(model="recorded", content=answers[str(state.sample_id)])
        return state

    return solve


grader = get_model("openai/" + job["model"], base_url=job["base_url"], api_key=job["api_key"])
task = Task(
    dataset=[Sample(id=f"{i['id']}::{c['id']}", input=i["input"], target=c["question"]) for i in job["items"] for c in job["criteria"]],
    solver=recorded_answer(),
    scorer=model_graded_qa(model=grader),
)
with Clock() as clock:
    logs = inspect_eval(task, model="mockllm/model", log_dir=os.path.join(job["work_dir"], "logs"), display="none")
samples = [s for log in logs for s in (log.samples or [])]
scored = sum(1 for s in samples for v in (s.scores or {}).values() if v.value is not None)
report(clock, scores=scored, failed=len(samples) - scored + sum(1 for s in samples if s.error), concurrency="adaptive (10-100)")
