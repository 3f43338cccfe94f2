"""People: `review` (the Streamlit app)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from chainjudge.cli.app import app
from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import DbOption, fail, out
from chainjudge.core.store import absolute_db, masked_url, resolve_db_path


@dataclass(frozen=True, kw_only=True)
class ReviewOptions:
    """What `review` is asked: its options, parsed into one request."""

    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: a free one).")] = 8501
    catalogue: Annotated[Path, typer.Option(help="Failure-mode catalogue shown in the app.")] = Path("failure-modes.yaml")
    space: Annotated[
        Optional[list[Path]],
        typer.Option(help="Scenario-space files the Go-live tab may use, repeatable (default: an installed pack's, e.g. the CEP pack's)."),
    ] = None
    scenarios: Annotated[
        Optional[list[Path]], typer.Option(help="Scenario files with expected actions the Go-live tab may use, repeatable.")
    ] = None
    ope_value: Annotated[
        Optional[Path],
        typer.Option("--ope-value", help="Off-policy value figures (chainjudge ope --out) the Go-live tab shows as a guardrail."),
    ] = None
    ope_unsubscribe: Annotated[
        Optional[Path],
        typer.Option("--ope-unsubscribe", help="Off-policy unsubscribe / complaint figures the Go-live tab shows as a guardrail."),
    ] = None
    db: DbOption = None


@app.command("review")
@from_options(ReviewOptions)
def review_app(args: ReviewOptions) -> None:
    """Start the review app (Streamlit, headless, on 127.0.0.1, usage stats off) and print its address.

    Reviewers sign in with a personal token (chainjudge reviewers add NAME); CHAINJUDGE_REVIEW_TOKEN sets
    one shared token for a one-person set-up. The app reads only the files named here, never a path typed
    in the browser. Its output and error details go to review-app.log next to the store. Ctrl-C stops."""
    from chainjudge.review.server import ReviewServerError, serve

    _check_files(args.catalogue, args.space or [], args.scenarios or [])
    for figures in (args.ope_value, args.ope_unsubscribe):
        if figures is not None:
            from chainjudge.workflows.golive import ope_figures

            ope_figures(figures)  # read now: a bad file is one line at start, not an error in a tab later
    try:
        serve(
            Path(args.db) if args.db else None,
            args.port,
            args.catalogue,
            args.space or [],
            args.scenarios or [],
            on_ready=lambda url, log: out.print(
                f"review app: {url}  (store {masked_url(str(absolute_db(resolve_db_path(args.db))))}; log {log}; Ctrl-C stops)",
                highlight=False,
            ),
            ope_value=args.ope_value,
            ope_unsubscribe=args.ope_unsubscribe,
        )
    except ReviewServerError as exc:
        fail(str(exc))


def _check_files(catalogue: Path, spaces: list[Path], scenarios: list[Path]) -> None:
    """Read every file the app may open before starting it: a bad one is one line now, not an error in a
    tab later (a scenario space that is not YAML used to start the app and fail in the Go-live tab)."""
    from chainjudge.reading.loading import iter_records
    from chainjudge.workflows.golive import load_space
    from chainjudge.workflows.modes import load_catalogue

    for path in (*spaces, *scenarios):
        if not path.is_file():
            fail(f"no such file: {path}")
    for path in spaces:
        load_space(path)
    if catalogue.exists():
        load_catalogue(catalogue)
    for path in scenarios:
        bad = next((r for r in iter_records(path) if r.error is not None or not isinstance(r.value, dict)), None)
        if bad is not None:
            fail(f"{path}: {bad.label}: {bad.error or 'not a JSON object'}")
