"""Turn what a user typed (`--judge local`, `openai/gpt-4o-mini`, `--api-base`) into a running judge.

Called only at the edges (CLI, demo).  Checks the things a user would otherwise meet as a stack trace:
a missing API key, a missing local-judge install, a server that does not answer.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from chainjudge.core.judges.litellm_judge import LiteLLMJudge
from chainjudge.core.judges.retry import RetryPolicy
from chainjudge.core.schema import JudgeSettings
from chainjudge.core.scrub import scrub
from chainjudge.errors import ChainjudgeError

LOCAL = "local"
# One request per step for all its criteria is the default: it divides requests, prompt tokens and
# client CPU per criterion by the number of criteria.  The 1.5B local judge is the exception measured in
# bench/batch_quality.py (docs/benchmarks.md, "Batching on the local judge"): it keeps the mode that agreed better.
API_BATCH_DEFAULT = True
LOCAL_BATCH_DEFAULT = False
API_KEY_ENV = "CHAINJUDGE_API_KEY"  # key for an OpenAI-compatible --api-base server, if it wants one


class JudgeSetupError(ChainjudgeError, RuntimeError):
    """A judge that cannot be used as asked; the message says what to do."""


def missing_key_message(model: str) -> str | None:
    import litellm

    try:
        env = litellm.validate_environment(model=model)
    except Exception:
        return None
    missing = env.get("missing_keys") or []
    if env.get("keys_in_environment") or not missing:
        return None
    return f"judge {model!r} needs an API key: set {' or '.join(missing)} in the environment"


def check_reachable(api_base: str, timeout_s: float = 5.0) -> None:
    url = api_base.rstrip("/") + "/models"
    try:
        urllib.request.urlopen(url, timeout=timeout_s).close()
    except urllib.error.HTTPError:
        return  # it answered; auth or routing is the server's business
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise JudgeSetupError(f"judge server at {scrub(api_base)} is unreachable ({reason}); is it running?") from None


def is_loopback(api_base: str | None) -> bool:
    """True only when every address the host resolves to is a loopback address (decided by `ipaddress`,
    never by how the name is spelt: `127.evil.com` is not local).  Anything unresolvable counts as remote,
    so redaction stays on when in doubt."""
    if not api_base:
        return False
    try:
        host = urlparse(api_base).hostname or ""
    except ValueError:
        return False
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return False
    try:
        return bool(addresses) and all(ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses)
    except ValueError:
        return False


def local_settings(
    api_base: str | None = None,
    mode: str | None = None,
    batch: bool | None = None,
    temperature: float = 0.0,
    sample: int = 0,
    redact: bool | None = None,
) -> JudgeSettings:
    """The offline local judge's settings.  They decide its prompts and cache keys, so work already in a
    store can be recognised without starting the server (api_base is not part of a cache key)."""
    from chainjudge.core.judges.local import LOCAL_MODEL_STRING

    # llama-cpp-python's server forces a tool call's arguments to its JSON schema (grammar); it rejects
    # response_format json_schema.  The 1.5B model invents quotes, so no evidence, and a short context
    # keeps prompts near ~35 tokens/s territory.
    return JudgeSettings(
        model=LOCAL_MODEL_STRING,
        api_base=api_base,
        mode=mode or "tools",
        batch=LOCAL_BATCH_DEFAULT if batch is None else batch,
        temperature=temperature,
        sample=sample,
        ask_evidence=False,
        max_reasks=1,
        redact_pii=bool(redact),
        max_context_chars=1200,
        max_step_chars=1500,
    )


@contextmanager
def open_judge(
    spec: str,
    api_base: str | None = None,
    mode: str | None = None,
    batch: bool | None = None,
    retry: RetryPolicy | None = None,
    temperature: float = 0.0,
    sample: int = 0,
    redact: bool | None = None,
    log_dir: Path | None = None,
    aligned: str | None = None,
    thresholds: dict[str, float] | None = None,
    label_probs: bool | None = None,
) -> Iterator[tuple[JudgeSettings, LiteLLMJudge]]:
    """A judge for SPEC ('local', or a litellm model string), its settings, and the server it needs for as
    long as the block runs.  `aligned` (NAME@VERSION) marks the settings of an aligned judge, which decides
    by its `thresholds` (criterion -> P(fail)); `label_probs` asks for token log-probabilities (default:
    when there are thresholds to apply; they cost the local llama.cpp server time on every token)."""
    wants_probs = bool(thresholds) if label_probs is None else label_probs
    extra = {"aligned": aligned, "label_probs": wants_probs, "thresholds": dict(thresholds or {})}
    if spec == LOCAL:
        with _local_judge(mode, batch, retry, temperature, sample, redact, log_dir, extra) as opened:
            yield opened
        return
    settings, api_key = _remote_settings(spec, api_base, mode, batch, temperature, sample, redact, extra)
    yield settings, LiteLLMJudge(settings, retry=retry, api_key=api_key)


@contextmanager
def _local_judge(
    mode: str | None,
    batch: bool | None,
    retry: RetryPolicy | None,
    temperature: float,
    sample: int,
    redact: bool | None,
    log_dir: Path | None,
    extra: dict[str, Any],
) -> Iterator[tuple[JudgeSettings, LiteLLMJudge]]:
    """The offline judge: its llama.cpp server started for the block (log-probabilities only when asked)."""
    from chainjudge.core.judges.local import LocalJudgeUnavailable, LocalServer, ensure_model

    try:
        model_path = ensure_model()
        log_path = (log_dir / "local-judge-server.log") if log_dir else None
        if log_dir:
            log_dir.mkdir(parents=True, exist_ok=True)
        with LocalServer(model_path, log_path=log_path, logits_all=extra["label_probs"]) as server:
            settings = local_settings(server.api_base, mode, batch, temperature, sample, redact).model_copy(update=extra)
            yield settings, LiteLLMJudge(settings, retry=retry, api_key="local", max_in_flight=server.slots)
    except LocalJudgeUnavailable as exc:
        raise JudgeSetupError(str(exc)) from None


def _remote_settings(
    spec: str,
    api_base: str | None,
    mode: str | None,
    batch: bool | None,
    temperature: float,
    sample: int,
    redact: bool | None,
    extra: dict[str, Any],
) -> tuple[JudgeSettings, str | None]:
    """A served judge's settings and API key: a server named by --api-base must answer; a hosted model
    needs its provider's key; redaction defaults to on whenever the judge is not on this machine."""
    if api_base:
        check_reachable(api_base)
        chosen_mode = mode or "json_schema"
        api_key = os.environ.get(API_KEY_ENV)
    else:
        problem = missing_key_message(spec)
        if problem:
            raise JudgeSetupError(problem)
        chosen_mode = mode or ("json_schema" if spec.startswith(("hosted_vllm/", "ollama/", "ollama_chat/")) else "tools")
        api_key = None
    if redact is None:
        redact = not is_loopback(api_base)
    batch = API_BATCH_DEFAULT if batch is None else batch
    settings = JudgeSettings(
        model=spec, api_base=api_base, mode=chosen_mode, batch=batch, temperature=temperature, sample=sample, redact_pii=redact, **extra
    )
    return settings, api_key
