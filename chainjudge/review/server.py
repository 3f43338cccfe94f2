"""Run the Streamlit review app as a child process: loopback only, the safe Streamlit settings, its
output in a log file (never a pipe nobody reads: a full pipe froze the app after ~64 KB of tracebacks),
and stopped with chainjudge.

What the app may open is decided here, from the command line, and handed over in the environment:
the store, the failure-mode catalogue, the scenario-space and scenario files. The browser can only pick
among them by name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from chainjudge.core.store import Store, absolute_db, resolve_db_path
from chainjudge.errors import ChainjudgeError

APP_FILE = Path(__file__).resolve().parents[1] / "ui" / "app.py"  # the review app, a module of the package
LOG_NAME = "review-app.log"
MAX_LOG_BYTES = 10 * 1024 * 1024
# what reviewers never need: error details and tracebacks (they go to the log), the developer toolbar
# ("Deploy", rerun settings), usage statistics, file watching
STREAMLIT_FLAGS = (
    "--server.headless",
    "true",
    "--server.address",
    "127.0.0.1",
    "--browser.gatherUsageStats",
    "false",
    "--server.fileWatcherType",
    "none",
    "--client.showErrorDetails",
    "false",
    "--client.toolbarMode",
    "minimal",
    "--server.runOnSave",
    "false",
    "--global.developmentMode",
    "false",
    "--logger.level",
    "warning",
)


class ReviewServerError(ChainjudgeError, RuntimeError):
    pass


def app_environment(
    db_path: Path | str,
    catalogue: Path,
    spaces: Sequence[Path],
    scenarios: Sequence[Path],
    ope_value: Path | None = None,
    ope_unsubscribe: Path | None = None,
) -> dict:
    """The files the app may read, as absolute paths joined by os.pathsep."""
    from chainjudge.core.plugins import default_file

    offered = default_file("space")  # an installed pack's scenario space (the CEP pack's), when none is given
    chosen_spaces = [p.resolve() for p in spaces] or ([offered] if offered is not None and offered.exists() else [])
    return {
        "CHAINJUDGE_DB": str(db_path),
        "CHAINJUDGE_CATALOGUE": str(catalogue.resolve()),
        "CHAINJUDGE_SPACES": os.pathsep.join(map(str, chosen_spaces)),
        "CHAINJUDGE_SCENARIOS": os.pathsep.join(str(p.resolve()) for p in scenarios),
        "CHAINJUDGE_OPE_VALUE": str(ope_value.resolve()) if ope_value else "",
        "CHAINJUDGE_OPE_UNSUBSCRIBE": str(ope_unsubscribe.resolve()) if ope_unsubscribe else "",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }


def serve(
    db: Path | None,
    port: int,
    catalogue: Path,
    spaces: Sequence[Path],
    scenarios: Sequence[Path],
    on_ready: Callable[[str, Path], None],
    ope_value: Path | None = None,
    ope_unsubscribe: Path | None = None,
) -> None:
    from chainjudge.core.judges.local import die_with_parent, free_port

    _check_inputs(spaces, scenarios, ope_value, ope_unsubscribe)
    db_path = absolute_db(resolve_db_path(db))
    with Store(db_path) as store:  # create and migrate before the app opens it
        log = store.log_dir.resolve() / LOG_NAME
    log.parent.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = {**os.environ, **app_environment(db_path, catalogue, spaces, scenarios, ope_value, ope_unsubscribe)}
    command = [sys.executable, "-m", "streamlit", "run", str(APP_FILE), "--server.port", str(port), *STREAMLIT_FLAGS]
    # SIGTERM (a service manager, a test) must stop the app too, not leave it running without us
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )
    _watch(process, f"http://127.0.0.1:{port}", log, on_ready)


def _check_inputs(spaces: Sequence[Path], scenarios: Sequence[Path], ope_value: Path | None, ope_unsubscribe: Path | None) -> None:
    """Refuse to start without the app, with a weak shared token, or with a file that is not there."""
    from chainjudge.review.sessions import shared_token_problem

    if not APP_FILE.exists():
        raise ReviewServerError(f"the review app is missing: {APP_FILE}")
    problem = shared_token_problem(os.environ.get("CHAINJUDGE_REVIEW_TOKEN") or None)
    if problem:
        raise ReviewServerError(problem)
    for path in (*spaces, *scenarios, *(p for p in (ope_value, ope_unsubscribe) if p is not None)):
        if not path.is_file():
            raise ReviewServerError(f"no such file: {path}")


def _watch(process: subprocess.Popen, address: str, log: Path, on_ready: Callable[[str, Path], None]) -> None:
    """Wait for the app to answer, say where it is, and keep its log bounded until it ends (or Ctrl-C); it is
    always stopped on the way out."""
    stop = threading.Event()
    threading.Thread(target=keep_log_bounded, args=(log, stop), daemon=True).start()
    try:
        _wait_healthy(process, address, log)
        on_ready(address, log)
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def keep_log_bounded(log: Path, stop: threading.Event, max_bytes: int = MAX_LOG_BYTES, every_s: float = 1.0) -> None:
    """The app's log never passes max_bytes: past it, its newest half is kept and the rest dropped (the app
    writes in append mode, so it goes on at the new end).  A flood of errors once grew it 190 MB in 55 s."""
    while not stop.wait(every_s):
        trim_log(log, max_bytes)


def trim_log(log: Path, max_bytes: int = MAX_LOG_BYTES) -> bool:
    try:
        if log.stat().st_size <= max_bytes:
            return False
        with log.open("r+b") as handle:
            handle.seek(-(max_bytes // 2), os.SEEK_END)
            tail = handle.read()
            handle.seek(0)
            handle.truncate()
            handle.write(b"[... earlier lines dropped: the log is kept under %d bytes ...]\n" % max_bytes)
            handle.write(tail[tail.find(b"\n") + 1 :])
        return True
    except OSError:
        return False


def _wait_healthy(process: subprocess.Popen, address: str, log: Path, timeout_s: float = 60.0) -> None:
    from chainjudge.core.judges.local import wait_until_answers

    if wait_until_answers(process, address + "/_stcore/health", timeout_s, interval_s=0.3) is None:
        return
    tail = log.read_bytes()[-800:].decode("utf-8", "replace") if log.exists() else ""
    raise ReviewServerError(f"the review app did not start (log {log}):\n{tail}")
