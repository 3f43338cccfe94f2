"""An agent for the replay test: always sends the campaign on LINE in the user's first language."""

import json

from chainjudge.core.schema import StepKind
from chainjudge.packs.cep.recording import step


def agent(user, llm):
    decision = {"action": "send", "channel": "line", "content_language": user.languages[0], "reason": "LINE friend"}
    return [step(0, StepKind.user, f"decide for {user.id}"), step(1, StepKind.decision, json.dumps(decision))]
