"""What the CEP pack's commands share: reading journey traces, the customer's response model and the
agent's model (the offline one started and stopped here)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from rich.table import Table
from rich.text import Text

from chainjudge.cli.support import err, fail, out
from chainjudge.core.schema import Trace
from chainjudge.core.yamlfile import YamlFileError, load_model

if TYPE_CHECKING:
    from chainjudge.packs.cep.customer import ResponseModel
    from chainjudge.packs.cep.recording import LLMConfig


def read_journey_traces(paths: list[Path]) -> list:
    """Journey traces from JSONL files; a line that is not a trace is reported and skipped."""
    traces = []
    for path in paths:
        if not path.is_file():
            fail(f"{path}: no such file")
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                traces.append(Trace.model_validate_json(line))
            except ValueError as exc:
                err.print(
                    Text("skipped", style="yellow"),
                    f"{path}: line {number}: not a trace ({str(exc).splitlines()[0][:160]})",
                    highlight=False,
                )
    return traces


def load_response_model(path: Optional[Path]) -> ResponseModel:
    from chainjudge.packs.cep.customer import ResponseModel

    if path is None:
        return ResponseModel()
    try:
        return load_model(path, ResponseModel)
    except YamlFileError as exc:
        fail(str(exc))


def print_summary(summary, title: str = "journeys") -> None:
    out.print(
        f"{title}: {summary.journeys} journeys, {summary.failed} failed: failure rate {summary.failure_rate:.1%} "
        f"(95% Wilson [{summary.failure_low:.1%}, {summary.failure_high:.1%}])"
    )
    if summary.by_check:
        table = Table("check", "journeys failing it", title="findings by check")
        for check, count in summary.by_check.items():
            table.add_row(check, str(count))
        out.print(table)
    if summary.by_step:
        out.print("findings by journey step: " + ", ".join(f"{step} {n}" for step, n in summary.by_step.items()))
    cells = Table("journey kind / perturbation", "failed", "journeys", "rate", title="by cell")
    for cell, (failed, total) in summary.by_cell.items():
        cells.add_row(cell, str(failed), str(total), f"{failed / total:.0%}" if total else "-")
    out.print(cells)
    out.print(f"{len(summary.modes)} distinct failure modes (check @ kind/perturbations)")
    if summary.pass_hat_k:
        out.print("pass^k over repeated runs: " + ", ".join(f"k={k} {v:.2f}" for k, v in summary.pass_hat_k))
    out.print(
        f"simulator inconsistencies (the harness's, not the agent's): {summary.simulator_inconsistent}/{summary.journeys} journeys "
        f"(95% Wilson [{summary.simulator_low:.1%}, {summary.simulator_high:.1%}])"
    )
    for example in summary.simulator_examples:
        err.print(Text("simulator", style="red"), example, highlight=False)


@contextmanager
def agent_llm(model: str, api_base: Optional[str], log_folder: Path) -> Iterator[LLMConfig]:
    """An LLMConfig for the agent, starting the offline model's server for 'local' (and stopping it)."""
    from chainjudge.packs.cep.recording import LLMConfig

    if model == "local":
        from chainjudge.core.judges.local import MODEL_ALIAS, LocalServer, ensure_model

        with LocalServer(ensure_model(), log_path=log_folder / "agent-server.log") as server:
            yield LLMConfig(model=f"openai/{MODEL_ALIAS}", api_base=server.api_base, api_key=os.environ.get("CHAINJUDGE_API_KEY"))
    else:
        yield LLMConfig(model=model, api_base=api_base, api_key=os.environ.get("CHAINJUDGE_API_KEY"))
