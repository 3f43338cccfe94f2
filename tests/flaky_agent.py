"""Agents for the recording tests: one that works, one that raises, one that hangs."""

import json
import time

from chainjudge.core.schema import StepKind
from chainjudge.packs.cep.recording import step


def agent(user, llm):
    if user.id.endswith("1"):
        raise RuntimeError("profile service down")
    if user.id.endswith("2"):
        time.sleep(5)
    return [
        step(0, StepKind.user, f"decide for {user.id}"),
        step(1, StepKind.decision, json.dumps({"action": "suppress", "reason": f"model {llm.model}"})),
    ]
