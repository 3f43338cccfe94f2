"""chainjudge: an offline evaluation harness for LLM agents' recorded reasoning traces."""

from chainjudge import offline as _offline

_offline.apply()

__version__ = "0.1.0"
