"""The rule-based journey agent with planted blind spots, for `--agent examples.journey_agent:agent`.

It lives in the CEP pack (`chainjudge/packs/cep/rule_agent.py`, where its blind spots are listed) so the
demo can run it from an installed package; this module gives it a short name on the command line.
"""

from chainjudge.packs.cep.rule_agent import agent

__all__ = ["agent"]
