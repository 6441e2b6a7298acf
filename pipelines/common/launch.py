"""Entry-point plumbing shared by ``pipelines/<name>/main.py``: options, logging, run."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import SetupOptions, StandardOptions

from pipelines.common import logs
from pipelines.common.options import AnalyticsOptions, check

log = logging.getLogger(__name__)


def run(
    pipeline: str,
    options_class: type[AnalyticsOptions],
    build: Callable[[beam.Pipeline, AnalyticsOptions], object],
    argv: Sequence[str] | None = None,
) -> None:
    """Build and run one streaming job; blocks until the job ends (or, locally, until it is stopped)."""
    logs.configure()
    options = options_class(argv)
    options.view_as(StandardOptions).streaming = True  # both pipelines are unbounded
    # Workers import the code from the image / installed package, not from a pickled __main__.
    options.view_as(SetupOptions).save_main_session = False
    custom = options.view_as(options_class)
    check(custom)
    log.info(
        "starting pipeline",
        extra={
            "pipeline": pipeline,
            "input_subscription": custom.input_subscription,
            "output_dataset": custom.output_dataset,
            "window_seconds": custom.window_seconds,
            "allowed_lateness_seconds": custom.allowed_lateness_seconds,
            "runner": options.view_as(StandardOptions).runner,
        },
    )
    with beam.Pipeline(options=options) as p:
        build(p, custom)
