"""Analysis: pure functions over results already gathered (judgments, labels, traces, logged outcomes):
agreement and trust, corrected and prediction-powered rates, verifiers and their guarantee, failure-mode
catalogues, coverage, the go-live verdict, off-policy estimates, the report's rendering.  Nothing here
opens the store, calls a judge or touches a file: that is `workflows/` (tested in tests/test_layers.py)."""
