"""The core: the one schema, the store, rubrics, prompts, judges and the engine that runs them.

Nothing in here knows a domain pack (packs/), a command line (cli/) or a statistic (analysis/): the
core turns traces and a rubric into Judgment records, and keeps them.
"""
