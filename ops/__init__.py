"""Operator CLI for the self-healing analytics: ``python -m ops --help``.

Works against the local emulators (the usual ``*_EMULATOR_HOST`` env vars) and
against a real project (``--project``): read the Firestore audit trail, re-arm an
exhausted pipeline, publish sample events.
"""
