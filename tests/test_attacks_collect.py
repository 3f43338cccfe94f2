"""Attacks on `chainjudge collect`, sent over a real socket to the real command: lengths that lie, a gzip
bomb, more connections than it serves at once. The receiver must refuse each one and its memory must stay
flat (VmHWM of the server process, read from /proc)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import zlib

import pytest
from conftest import wait_for_http

from chainjudge.core.judges.local import free_port

LIMIT_MB = 1


@pytest.fixture
def collector(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chainjudge.cli",
            "collect",
            "--listen",
            f"127.0.0.1:{port}",
            "--max-body-mb",
            str(LIMIT_MB),
            "--max-concurrent",
            "4",
            "--db",
            str(tmp_path / "collect.db"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_for_http(f"http://127.0.0.1:{port}/health", process)
    yield port, process
    process.terminate()
    try:  # a receiver that does not stop on SIGTERM is a failure; 60 s, since a loaded 2-core machine once took over 20
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"the receiver did not stop on SIGTERM within 60 s: {process.stdout.read()[-2000:]}") from None


def high_water_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def send(port: int, head: str, body: bytes = b"", body_chunks: int = 1, timeout: float = 20.0) -> tuple[int, bytes]:
    """Write the request head and body as raw bytes while a second thread reads the answer (a server that
    refuses early answers before the body is sent); return the status and whatever came back."""
    import threading

    answer = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:

        def read() -> None:
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                answer.extend(data)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
            for _ in range(body_chunks):
                sock.sendall(body)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server refused and closed early, as it should
        reader.join(timeout)
    data = bytes(answer)
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data


def head(length: str | None, extra: str = "") -> str:
    lines = ["POST /v1/traces HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n"


def gzip_bomb(inflated_mb: int) -> bytes:
    """A valid gzip stream of a JSON document that inflates to inflated_mb MB (built in pieces)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(b'{"resourceSpans": [], "pad": "')]
    block = b"a" * (1024 * 1024)
    for _ in range(inflated_mb):
        parts.append(packer.compress(block))
    parts.append(packer.compress(b'"}'))
    parts.append(packer.flush())
    return b"".join(parts)


def test_negative_length_is_refused_and_the_body_never_read(collector):
    port, process = collector
    before = high_water_kb(process.pid)
    status, answer = send(port, head("-1"), b"x" * (1024 * 1024), body_chunks=8)  # today: 200 OK after 8 MB
    assert status == 400, answer[:300]
    assert high_water_kb(process.pid) - before < 20_000


@pytest.mark.parametrize("length, expected", [(None, 411), ("abc", 400), ("1e9", 400), ("+5", 400), (" 12x", 400)])
def test_missing_or_nonnumeric_length_is_refused(collector, length, expected):
    port, _ = collector
    status, answer = send(port, head(length), b"{}")
    assert status == expected, answer[:300]


def test_chunked_body_is_refused(collector):
    port, _ = collector
    status, _ = send(port, head(None, "Transfer-Encoding: chunked"), b"2\r\n{}\r\n0\r\n\r\n")
    assert status == 411


def test_declared_length_over_the_limit_is_413_before_reading(collector):
    port, process = collector
    before = high_water_kb(process.pid)
    status, _ = send(port, head(str(8 * 1024 * 1024)), b"x" * (1024 * 1024), body_chunks=8)
    assert status == 413
    assert high_water_kb(process.pid) - before < 20_000


def test_gzip_bomb_is_413_and_memory_stays_flat(collector):
    port, process = collector
    bomb = gzip_bomb(200)  # ~200 KB on the wire, 200 MB inflated
    assert len(bomb) < LIMIT_MB * 1024 * 1024
    before = high_water_kb(process.pid)
    status, answer = send(port, head(str(len(bomb)), "Content-Encoding: gzip"), bomb)
    assert status == 413, answer[:300]
    assert b"inflates past" in answer
    assert high_water_kb(process.pid) - before < 30_000  # today: ~200 MB more
    # an honest gzip export below the limit is still received
    small = zlib.compress(json.dumps({"resourceSpans": []}).encode(), wbits=31)
    status, _ = send(port, head(str(len(small)), "Content-Encoding: gzip"), small)
    assert status == 200


def test_body_shorter_than_declared_does_not_hang_the_receiver(collector):
    port, _ = collector
    status, _ = send(port, head("1000"), b"{}")  # declares 1000, sends 2, closes its side
    assert status == 0  # nothing parsed, nothing answered, connection closed
    status, _ = send(port, head("2"), b"{}")
    assert status == 200  # the next honest client is served


def test_concurrent_requests_are_bounded(collector):
    port, _ = collector
    slow = []
    for _ in range(4):  # four clients that declare a body and never send it hold the four slots
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(head("1000").replace("\n", "\r\n").encode() + b"\r\n")
        slow.append(sock)
    time.sleep(0.5)
    try:
        status, answer = send(port, head("2"), b"{}")
        assert status == 503, answer[:300]
    finally:
        for sock in slow:
            sock.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the slots come back once those clients are gone
        status, _ = send(port, head(str(len(b'{"resourceSpans": []}'))), b'{"resourceSpans": []}')
        if status == 200:
            return
        time.sleep(0.2)
    raise AssertionError("the receiver never served again after the slow clients left")
