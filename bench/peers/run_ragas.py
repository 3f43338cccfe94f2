"""Ragas' AspectCritic (its custom-criterion metric), one per criterion, through ragas.evaluate."""

from __future__ import annotations

import math
import os

from _job import Clock, load_job, report

job = load_job()
os.chdir(job["work_dir"])

from langchain_openai import ChatOpenAI  # noqa: E402
from ragas import EvaluationDataset, evaluate  # noqa: E402
from ragas.llms import LangchainLLMWrapper  # noqa: E402
from ragas.metrics import AspectCritic  # noqa: E402

llm = LangchainLLMWrapper(ChatOpenAI(model=job["model"], base_url=job["base_url"], api_key=job["api_key"]))
metrics = [AspectCritic(name=c["id"], definition=c["question"], llm=llm) for c in job["criteria"]]
data = EvaluationDataset.from_list([{"user_input": i["input"], "response": i["output"]} for i in job["items"]])
with Clock() as clock:
    result = evaluate(data, metrics=metrics, llm=llm, show_progress=False)
values = [v for row in result.scores for v in row.values()]
ok = sum(1 for v in values if v is not None and not (isinstance(v, float) and math.isnan(v)))
report(clock, scores=ok, failed=len(values) - ok, concurrency=16)
