"""`journeys fit-responses`: the simulated customer's response rates fitted from a team's logged outcomes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml
from rich.text import Text

import chainjudge.packs.cep.commands.journey_options as opt
from chainjudge.cli.support import err, fail, out
from chainjudge.core.atomic import write_text_atomic
from chainjudge.packs.cep.commands.journeys import journeys_app


@journeys_app.command("fit-responses")
def fit_responses(
    outcomes: opt.OutcomesOption,
    out_file: opt.FitResponsesOutFileOption = Path("response-model.yaml"),
    prior: opt.PriorOption = 20.0,
) -> None:
    """Fit the simulated customer's response rates from a team's logged outcomes (open, click, conversion
    and unsubscribe rates per channel and segment), for `record --journeys --response-model`."""
    from chainjudge.packs.cep.customer import fit_response_model

    if not outcomes.is_file():
        fail(f"{outcomes}: no such file")
    text = outcomes.read_text(encoding="utf-8", errors="replace")
    rows: list[dict] = []
    if outcomes.suffix.lower() in (".jsonl", ".ndjson"):
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    value = json.loads(line)
                except json.JSONDecodeError:
                    err.print(Text("skipped", style="yellow"), f"{outcomes}: line {number}: not JSON", highlight=False)
                    continue
                if isinstance(value, dict):
                    rows.append(value)
    else:
        try:
            rows = list(csv.DictReader(text.splitlines()))
        except csv.Error as exc:
            fail(f"{outcomes}: not a readable CSV ({exc})")
    try:
        model = fit_response_model(rows, prior=prior)
    except ValueError as exc:
        fail(f"{outcomes}: {exc}")
    write_text_atomic(out_file, yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False))
    out.print(f"response model {model.source} written to {out_file}")
