"""Test doubles for chainjudge and for the people who test their own rubrics and packs with it:
`fakejudge.FakeJudgeServer`, a scripted, fault-injecting OpenAI-compatible server on 127.0.0.1 (the real
HTTP path: litellm, instructor, httpx), and `mock.MockJudge`, an in-process judge for fast unit tests.
Nothing in chainjudge imports this package at run time."""
