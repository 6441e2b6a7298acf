"""The shape every job shares: read the subscription, transform, write each output to its table.

A pipeline module supplies only what differs: its name, its ``expand`` (pure
transforms, tested with TestStream) and the tables it writes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import apache_beam as beam
from apache_beam.options.pipeline_options import GoogleCloudOptions

from pipelines.common import sink
from pipelines.common.options import AnalyticsOptions
from pipelines.common.transforms import ReadMessages

Expand = Callable[..., dict[str, beam.PCollection]]  # (messages, window_seconds, allowed_lateness_seconds, job_name=)


def build_job(
    p: beam.Pipeline,
    options: AnalyticsOptions,
    pipeline: str,
    expand: Expand,
    tables: Collection[str],
) -> dict[str, beam.PCollection]:
    """Wire ``expand`` between the subscription and the tables; returns the outputs by table key."""
    messages = p | "Read" >> ReadMessages(options.input_subscription)
    # Beam's --job_name (a flex-template launch fills it with the request's job name): the name
    # aggregate rows carry when the worker's environment does not say (pipelines/common/job_identity.py).
    job_name = options.view_as(GoogleCloudOptions).job_name
    outputs = expand(messages, options.window_seconds, options.allowed_lateness_seconds, job_name=job_name)
    if set(outputs) != set(tables):
        raise ValueError(f"{pipeline} writes {sorted(tables)} but its expand produced {sorted(outputs)}")
    for table_key, rows in outputs.items():
        rows | f"Write_{table_key}" >> sink.WriteTable(options.output_dataset, table_key, pipeline)
    return outputs
