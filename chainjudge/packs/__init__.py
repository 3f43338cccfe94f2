"""Domain packs shipped with chainjudge.  Each registers through the `chainjudge.packs` and
`chainjudge.checks` entry points exactly as a third-party pack would; the core imports none of them."""
