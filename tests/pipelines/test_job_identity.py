"""Which job an aggregate row names: Dataflow's worker environment first, then Beam's --job_name."""

from __future__ import annotations

from datetime import timedelta

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given
from hypothesis import strategies as st
from pipeline_support import NOW, order

from pipelines import generator, system
from pipelines.common import job_identity
from pipelines.common.transforms import FixedClock
from pipelines.orders import pipeline as orders


@given(st.sampled_from(system.pipeline_names()), st.integers(min_value=0, max_value=10**6))
def test_the_attempt_is_read_back_from_every_deterministic_job_name(pipeline: str, attempt: int) -> None:
    assert system.attempt_of(pipeline, system.job_name(pipeline, attempt)) == attempt


def test_names_not_made_by_the_launcher_have_no_attempt() -> None:
    prefix = system.system()["pipelines"]["orders"]["job_name_prefix"]
    for name in (None, "", "beamapp-someone-1201", f"{prefix}-a", f"{prefix}-ax", f"{prefix}-a1-copy", f"x{prefix}-a1"):
        assert system.attempt_of("orders", name) is None, name


def test_the_worker_environment_wins_over_the_option() -> None:
    env = {"JOB_ID": "2026-12-01_03_04_05-123", "JOB_NAME": system.job_name("orders", 2)}
    got = job_identity.resolve("orders", env, fallback_name=system.job_name("orders", 0))
    assert got == job_identity.JobIdentity("2026-12-01_03_04_05-123", system.job_name("orders", 2), 2)


def test_without_the_environment_the_option_names_the_job_and_the_id_is_unknown() -> None:
    got = job_identity.resolve("shipping", {}, fallback_name=system.job_name("shipping", 3))
    assert got == job_identity.JobIdentity(None, system.job_name("shipping", 3), 3)
    assert job_identity.resolve("shipping", {}, None) == job_identity.JobIdentity(None, None, None)


def test_aggregate_rows_carry_the_job_from_the_worker_environment(monkeypatch) -> None:
    """The DirectRunner runs DoFn.setup in this process, so the environment set here is the worker's."""
    name = system.job_name("orders", 1)
    monkeypatch.setenv("JOB_ID", "job-id-7")
    monkeypatch.setenv("JOB_NAME", name)
    msg = beam.io.gcp.pubsub.PubsubMessage(
        generator.encode(order(1, NOW - timedelta(minutes=5))), {}, message_id="m-1", publish_time=NOW
    )
    p = TestPipeline()
    out = orders.expand(p | beam.Create([msg]), 60, 120, FixedClock(NOW), job_name="ignored-fallback")
    jobs = out["order_revenue"] | beam.Map(lambda r: (r["job_id"], r["job_name"], r["job_attempt"]))
    assert_that(jobs, equal_to([("job-id-7", name, 1)]))
    p.run().wait_until_finish()
