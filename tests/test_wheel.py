"""The installed wheel works away from the checkout: built from this repository, installed with pip into
a fresh virtual environment (its dependencies borrowed from this one through a plain path entry, so the
checkout's editable install is NOT visible there), then `chainjudge demo`, `show`, `gate` and `review`
run from an empty folder on the files the wheel carries (rubrics, traces, the CEP policy and space, the
app), read with importlib.resources."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import wait_for_http

from chainjudge.core.judges.local import free_port
from chainjudge.testing.fakejudge import FakeJudgeServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fresh_install(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(base / "dist"), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (base / "dist").glob("chainjudge-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for needed in (
        "chainjudge/packs/cep/rubrics/policy.yaml",
        "chainjudge/packs/cep/rubrics/space.yaml",
        "chainjudge/packs/cep/traces/traces.jsonl",
        "chainjudge/ui/app.py",
    ):
        assert needed in names
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    deps = sysconfig.get_paths()["purelib"]
    (next((venv / "lib").glob("python*")) / "site-packages" / "deps.pth").write_text(deps + "\n")
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    return venv


def run(venv: Path, *args, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CHAINJUDGE_DB")}
    return subprocess.run(
        [str(venv / "bin" / "chainjudge"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**env, "COLUMNS": "200"},
        timeout=300,
    )


def test_the_package_comes_from_the_wheel_not_the_checkout(fresh_install, tmp_path):
    where = subprocess.run(
        [
            str(fresh_install / "bin" / "python"),
            "-c",
            "import chainjudge, sys; print(chainjudge.__file__); print(any(p.rstrip('/') == '" + str(ROOT) + "' for p in sys.path))",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    location, checkout_on_path = where.stdout.split()
    assert str(fresh_install) in location and checkout_on_path == "False"


def test_demo_show_gate_and_review_from_an_empty_folder(fresh_install, tmp_path):
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    with FakeJudgeServer() as judge:
        demo = run(fresh_install, "demo", "--judge", "openai/fake", "--api-base", judge.url, "--sample", "2", "--db", "demo.db", cwd=empty)
    assert demo.returncode in (0, 1), demo.stdout + demo.stderr
    assert "deterministic policy checks" in demo.stdout and "consent_respected" in demo.stdout  # the CEP checks ran
    assert "gate (" in demo.stdout
    show = run(fresh_install, "show", "demo-cep", "--db", "demo.db", cwd=empty)
    assert show.returncode == 0 and "suppression_honoured" in show.stdout
    gate = run(fresh_install, "gate", "demo-cep", "--db", "demo.db", cwd=empty)
    assert gate.returncode == 1 and "go-live confidence" in gate.stdout and "gate:" in gate.stderr  # the bundled policy
    port = free_port()
    app = subprocess.Popen(
        [str(fresh_install / "bin" / "chainjudge"), "review", "--port", str(port), "--db", "demo.db"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=empty,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/_stcore/health", app)
    finally:
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=20)
    assert sorted(p.name for p in empty.iterdir()) >= ["demo.db"]
