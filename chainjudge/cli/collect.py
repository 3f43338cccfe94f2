"""`collect`: a live OTLP/HTTP receiver that stores every span as it arrives, until Ctrl-C."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

import chainjudge.cli.files_options as opt
from chainjudge.cli.app import app
from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import DbOption, err, fail, open_store, out


def _stop_on_signals() -> None:
    """Ctrl-C (SIGINT) and SIGTERM end the receiver cleanly, even when it was started as a background job of
    a non-interactive shell, which starts it with SIGINT ignored (a `&` in a CI script does)."""
    import signal

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


@dataclass(frozen=True, kw_only=True)
class CollectOptions:
    """What `collect` is asked: its options, parsed into one request."""

    listen: opt.ListenOption = "127.0.0.1:4318"
    max_body_mb: opt.MaxBodyMbOption = 16.0
    max_concurrent: opt.MaxConcurrentOption = 8
    max_connections: opt.MaxConnectionsOption = 64
    request_timeout: opt.RequestTimeoutOption = 60.0
    db: DbOption = None


@app.command()
@from_options(CollectOptions)
def collect(args: CollectOptions) -> None:
    """Receive OTLP/HTTP trace exports (protobuf or JSON, gzip) from instrumented agents and store the
    traces for judging. Point an exporter at http://HOST:PORT/v1/traces; Ctrl-C stops."""
    from chainjudge.core.judges.resolve import is_loopback
    from chainjudge.reading.collect import Collector, make_server

    host, _, port = args.listen.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        fail(f"--listen takes HOST:PORT with a port from 0 to 65535; got {args.listen!r}")
    if not is_loopback(f"http://{host}:{port}"):
        err.print(Text("warning:", style="yellow"), f"listening on {host}, reachable from other machines; traces may hold customer data")
    store = open_store(args.db)
    collector = Collector(store)
    try:
        server = make_server(
            collector,
            host,
            int(port),
            int(args.max_body_mb * 1024 * 1024),
            max_concurrent=args.max_concurrent,
            deadline_s=args.request_timeout,
            max_connections=args.max_connections,
        )
    except (OSError, OverflowError) as exc:
        fail(f"cannot listen on {args.listen}: {getattr(exc, 'strerror', None) or exc}")
    out.print(
        f"collecting OTLP traces at http://{host}:{server.server_address[1]}/v1/traces into {store.location} (Ctrl-C stops)",
        highlight=False,
    )
    _stop_on_signals()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        out.print(f"received {collector.spans} spans in {collector.trace_count()} traces")
        store.close()
