"""Analysis of stored judgments: calibration against people, corrected estimates, failure modes,
coverage, the go-live score and the report.  Reads results as data; never calls a judge itself
(probe_runs is the one module that asks the engine for derived runs)."""
