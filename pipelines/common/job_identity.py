"""Which job wrote an aggregate row: Dataflow job id, job name and relaunch attempt.

A relaunched job starts with empty state and numbers its panes from 0 again, so a
pane alone cannot say whether it is a window's whole count or the part a later job
saw. Every aggregate row carries its job, so the views and operators can tell.

How a worker learns its job: the Dataflow SDK harness container runs with the
environment variables ``JOB_ID`` and ``JOB_NAME``. Beam's own worker code relies on
them (``apache_beam/runners/worker/sdk_worker_main.py``, ``main``: the Cloud Profiler is
started with ``os.environ["JOB_ID"]`` as service version, and
``apache_beam/options/pipeline_options.py``, ``GoogleCloudOptions.get_cloud_profiler_service_name``,
reads ``os.environ["JOB_NAME"]``). When they are absent (a runner that does not set
them), the name falls back to Beam's ``--job_name`` option, which a flex-template launch
fills with the launch request's job name; the id is then unknown (NULL). The local job
runner (``localdev/local_jobs.py``) sets both variables the way Dataflow does.

The attempt is the ``-a<n>`` suffix of the deterministic job name (``pipelines.system.job_name``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pipelines import system

JOB_ID_VARIABLE = "JOB_ID"
JOB_NAME_VARIABLE = "JOB_NAME"


@dataclass(frozen=True)
class JobIdentity:
    job_id: str | None
    job_name: str | None
    job_attempt: int | None

    def row_fields(self) -> dict[str, str | int | None]:
        """The identity as aggregate-row fields (contracts.JOB_FIELDS)."""
        return {"job_id": self.job_id, "job_name": self.job_name, "job_attempt": self.job_attempt}


def resolve(pipeline: str, environ: Mapping[str, str], fallback_name: str | None = None) -> JobIdentity:
    """The job this process runs in: from the worker environment, else from the ``--job_name`` option."""
    name = environ.get(JOB_NAME_VARIABLE) or fallback_name or None
    return JobIdentity(environ.get(JOB_ID_VARIABLE) or None, name, system.attempt_of(pipeline, name))


def current(pipeline: str, fallback_name: str | None = None) -> JobIdentity:
    """:func:`resolve` on this process's environment (call it on the worker, in ``DoFn.setup``)."""
    return resolve(pipeline, os.environ, fallback_name)
