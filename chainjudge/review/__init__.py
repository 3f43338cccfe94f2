"""People in the loop: the review queue and adjudication (queue), reviewer identities (reviewers), and
the Streamlit review app's server process (server)."""
