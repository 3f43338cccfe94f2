"""The CEP pack as a plug-in: registered through the `chainjudge.packs` entry point (and its checks
through `chainjudge.checks`), exactly as a third-party pack would be."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chainjudge.core.schema import DecisionReport, Trace
from chainjudge.packs.cep.files import pack_file


@dataclass(frozen=True)
class CepPack:
    name: str = "cep"
    description: str = "customer-engagement next-best-action decisions: contact policy, checks, scenarios, expected actions"

    def score_decisions(self, traces: Sequence[Trace], expected_text: str) -> DecisionReport | None:
        """Decisions against CEP scenarios' expected actions; None when the text holds no CEP scenarios."""
        from chainjudge.packs.cep.decisions import parse_scenarios, score

        try:
            scenarios = parse_scenarios(expected_text)
        except ValueError:
            return None
        return score(traces, scenarios) if scenarios else None

    def default_file(self, kind: str):
        """The bundled CEP scenario space and gate policy, offered as defaults to generic commands."""
        name = {"space": "space.yaml", "gate_policy": "gate.yaml"}.get(kind)
        return pack_file("rubrics", name) if name else None

    def register_commands(self, app) -> None:
        """The pack's commands (`scenarios`, `record`, `decisions`, `journeys`, `outcomes`, `demo`) on APP."""
        from chainjudge.packs.cep.commands import register

        register(app)

    def review_tabs(self) -> list:
        """The review app's Ground truth tab (strategists annotate imported states)."""
        from chainjudge.packs.cep.review_tab import TABS

        return list(TABS)

    def migrations(self) -> list[tuple[str, object]]:
        """The pack's own store tables (the states strategists annotate, and their annotations)."""
        from chainjudge.packs.cep.state_tables import MIGRATIONS

        return list(MIGRATIONS)

    def decision_of(self, trace: Trace) -> dict[str, object] | None:
        """The CEP agent's final decision (action, channel, send time, content language, offer ...) as fields."""
        from chainjudge.packs.cep.decisions import final_decision

        try:
            decided = final_decision(trace)
        except ValueError:
            return None
        return decided.model_dump() if decided is not None else None


PACK = CepPack()
