"""Event-driven relauncher for the analytics' streaming Dataflow jobs.

Modules, from pure to I/O: :mod:`config` (env), :mod:`events` (CloudEvent ->
:class:`~relauncher.events.JobStatus`), :mod:`policy` (the pure decision),
:mod:`store` (Firestore transactions), :mod:`launcher` (Dataflow flex-template
launch), :mod:`logs` (structured logs), :mod:`handler` (the orchestration the
``main.relaunch`` entry point calls).
"""
