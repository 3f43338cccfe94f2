"""The options of `record`, parsed into one request."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer


@dataclass(frozen=True, kw_only=True)
class RecordOptions:
    """What `record` is asked: its options, parsed into one request."""

    agent: Annotated[
        str, typer.Option("--agent", help="module:callable honouring the agent contract (see chainjudge.packs.cep.recording).")
    ]
    scenarios_file: Annotated[
        Optional[Path], typer.Option("--scenarios", help="Scenarios (JSONL of {user, expected}): one decision each.")
    ] = None
    journeys_file: Annotated[
        Optional[Path],
        typer.Option(
            "--journeys", help="Journeys (JSONL from `journeys generate`): the agent decides step by step against a simulated customer."
        ),
    ] = None
    out_file: Annotated[
        Optional[Path],
        typer.Option(
            "--out",
            help="Native trace JSONL; appended to, what is already recorded is skipped. Default traces/cep/traces.jsonl, or "
            "traces/journeys/journeys.jsonl with --journeys.",
        ),
    ] = None
    model: Annotated[
        str, typer.Option(help="'local' (the offline model), 'none' (an agent that calls no model) or any litellm model string.")
    ] = "local"
    api_base: Annotated[Optional[str], typer.Option(help="OpenAI-compatible server for --model.")] = None
    limit: Annotated[Optional[int], typer.Option(min=1, help="Record at most N scenarios (journeys).")] = None
    timeout_s: Annotated[
        float, typer.Option(help="Per-scenario (per-decision, for journeys) time limit; past it the trace is marked failed.")
    ] = 600.0
    repeats: Annotated[int, typer.Option(min=1, help="Journeys: runs of each journey (pass^k needs k or more).")] = 1
    seed: Annotated[
        int, typer.Option(help="Journeys: the simulated customer's seed; the same seed and decisions replay the same journey.")
    ] = 0
    response_model: Annotated[
        Optional[Path], typer.Option(help="Journeys: the customer's response model (YAML from `journeys fit-responses`).")
    ] = None
