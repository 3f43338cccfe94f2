"""chainjudge: an offline evaluation harness for LLM agents' recorded reasoning traces.

Importing chainjudge changes nothing in the host process: the offline settings (no price-map fetch by
litellm, no hub lookups) are applied by the entry points, `chainjudge.cli.main()` and the review app, or
by a library user calling `chainjudge.core.offline.apply()`.
"""

__version__ = "0.1.0"
