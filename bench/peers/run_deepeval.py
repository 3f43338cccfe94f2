"""DeepEval's GEval (its recommended custom-criterion metric) on every item, DeepEval's defaults otherwise."""

from __future__ import annotations

import os

from _job import Clock, load_job, report

job = load_job()
os.chdir(job["work_dir"])  # DeepEval writes its cache and test-run files under the working directory

from deepeval import evaluate  # noqa: E402
from deepeval.evaluate.configs import DisplayConfig  # noqa: E402
from deepeval.metrics import GEval  # noqa: E402
from deepeval.models import GPTModel  # noqa: E402
from deepeval.test_case import LLMTestCase, LLMTestCaseParams  # noqa: E402

model = GPTModel(model=job["model"], api_key=job["api_key"], base_url=job["base_url"])
metrics = [
    GEval(name=c["id"], criteria=c["question"], evaluation_params=[LLMTestCaseParams.INPUT, LLMTestCaseParams.ACTUAL_OUTPUT], model=model)
    for c in job["criteria"]
]
cases = [LLMTestCase(input=i["input"], actual_output=i["output"], name=i["id"]) for i in job["items"]]
with Clock() as clock:
    result = evaluate(cases, metrics, display_config=DisplayConfig(show_indicator=False, print_results=False, inspect_after_run=False))
scores = [m for t in result.test_results for m in (t.metrics_data or [])]
report(clock, scores=sum(m.score is not None for m in scores), failed=sum(m.score is None or bool(m.error) for m in scores), concurrency=20)
