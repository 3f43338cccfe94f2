"""Work in the background: a command line of chainjudge's own as a child process a panel watches.

Fitting decision thresholds means judging labelled tune steps (minutes with an API judge, most of an hour
with the offline one), far longer than a page render, so the alignment panel starts the command line's own
`align` detached, with its log in the store's folder, and shows its progress from that log; the verifier
panel retrains a verifier the same way (`verifier train`, seconds, but never inside a page render).  One
job per name and kind at a time; the store holds every judgment as it is made, so a job that dies resumes
when started again.  The child inherits CHAINJUDGE_DB (never a credential on its command line).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from chainjudge.core.schema import Rubric
from chainjudge.core.store import Store

_DONE = re.compile(r"(\d+)/(\d+) done")
TAIL_BYTES = 64_000  # of the log, read for the status: bounded however long the job ran


@dataclass
class JobStatus:
    running: bool
    started: bool  # a log exists
    done: int | None
    total: int | None
    last_line: str


def _paths(store: Store, name: str, kind: str = "realign") -> tuple[Path, Path, Path]:
    folder = Path(store.log_dir) / kind
    return folder / f"{name}.log", folder / f"{name}.pid", folder / f"{name}.rubric.yaml"


def _alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    try:  # a finished child not yet reaped by this process is a zombie: not running
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return True


def start(store: Store, name: str, rubric: Rubric, spec: str, api_base: str | None, k: int) -> bool:
    """Start `chainjudge align --no-evaluate` for NAME unless one is running; False if one was."""
    log, pid_file, rubric_file = _paths(store, name)
    if _alive(pid_file):
        return False
    log.parent.mkdir(parents=True, exist_ok=True)
    rubric_file.write_text(
        yaml.safe_dump(rubric.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=False), encoding="utf-8"
    )
    command = ["align", "--rubric", str(rubric_file), "--name", name, "--k", str(k), "--judge", spec, "--no-evaluate"]
    if api_base:
        command += ["--api-base", api_base]
    return launch(store, name, command)


def launch(store: Store, name: str, arguments: list[str], kind: str = "realign") -> bool:
    """Start `chainjudge ARGUMENTS...` detached, its output in the job's log; False if that job still runs."""
    log, pid_file, _ = _paths(store, name, kind)
    if _alive(pid_file):
        return False
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as handle:  # the store comes from CHAINJUDGE_DB, which the child inherits
        process = subprocess.Popen(
            [sys.executable, "-m", "chainjudge.cli", *arguments],
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "COLUMNS": "200"},
        )
    pid_file.write_text(str(process.pid))
    return True


def status(store: Store, name: str, kind: str = "realign") -> JobStatus:
    log, pid_file, _ = _paths(store, name, kind)
    if not log.exists():
        return JobStatus(False, False, None, None, "")
    with open(log, "rb") as handle:
        handle.seek(max(0, log.stat().st_size - TAIL_BYTES))
        tail = handle.read().decode("utf-8", "replace")
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    done = total = None
    for line in reversed(lines):
        found = _DONE.search(line)
        if found:
            done, total = int(found.group(1)), int(found.group(2))
            break
    return JobStatus(_alive(pid_file), True, done, total, lines[-1] if lines else "")
