"""Workflows: what gathers evidence from the store (and, later, runs judges) and hands it to the pure
analysis; the command line and the app call one workflow each."""
