"""`python -m chainjudge.cli`."""

from chainjudge.cli import main

main()
