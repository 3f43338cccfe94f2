"""Offline settings applied by the entry points (the CLI's main, the review app, the tests), before
litellm or sentence-transformers are imported anywhere; never at import of chainjudge.

Without them litellm fetches a price map over the network at import, and a hub lookup for an
embedding model stalls for over a minute before failing.  Users may still override each variable.
`quiet_libraries` is the other process-wide choice an entry point makes: judge failures are recorded
as data on each Judgment, so the libraries' own log lines and banners would only repeat them.
"""

import os

OFFLINE_DEFAULTS = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_OFFLINE_MODE": "true",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
    "RAY_USAGE_STATS_ENABLED": "0",  # Ray (--executor ray) would otherwise report usage over the network
}


def apply() -> None:
    for name, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(name, value)
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        # token counting: tiktoken downloads its encodings unless pointed at litellm's bundled copies
        import importlib.util

        spec = importlib.util.find_spec("litellm")
        if spec and spec.submodule_search_locations:
            bundled = os.path.join(list(spec.submodule_search_locations)[0], "litellm_core_utils", "tokenizers")
            if os.path.isdir(bundled):
                os.environ["TIKTOKEN_CACHE_DIR"] = bundled


def quiet_libraries() -> None:
    """For a command-line process: litellm's debug banners and telemetry off, library loggers quiet."""
    import logging

    for name in ("instructor", "LiteLLM", "litellm", "httpx"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
