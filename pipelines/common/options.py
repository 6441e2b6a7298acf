"""The launch parameters both flex templates expose, as Beam pipeline options.

The names are exactly the keys of ``parameters`` in ``config/launch_parameters.json.tftpl``
and of ``metadata.json``; a test holds the three equal, so a relaunch passes
nothing the pipeline does not understand.
"""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions

DEFAULT_WINDOW_SECONDS = 60
DEFAULT_ALLOWED_LATENESS_SECONDS = 3600


class AnalyticsOptions(PipelineOptions):
    """Subscription in, dataset out, and the event-time windowing of the aggregates.

    No argument is ``required=True``: Beam parses every PipelineOptions subclass whenever
    it serializes options, so a required flag would break unrelated pipelines in the same
    process.  :func:`check` enforces presence at launch instead.
    """

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--input_subscription",
            help="Pub/Sub subscription to read: projects/<project>/subscriptions/<name>. "
            "A subscription (owned by terraform), never a topic, so a relaunched job resumes where the last stopped.",
        )
        parser.add_argument(
            "--output_dataset",
            help="BigQuery dataset for facts, aggregates and dead letters: <project>.<dataset>.",
        )
        parser.add_argument(
            "--window_seconds",
            type=int,
            default=DEFAULT_WINDOW_SECONDS,
            help="Length of the fixed event-time windows of the aggregates, in seconds.",
        )
        parser.add_argument(
            "--allowed_lateness_seconds",
            type=int,
            default=DEFAULT_ALLOWED_LATENESS_SECONDS,
            help="How long after the watermark passes a window late events still update it (late panes).",
        )


def parameter_names() -> list[str]:
    """The option names this class defines, in declaration order (for the wiring test)."""
    import argparse

    parser = argparse.ArgumentParser()
    AnalyticsOptions._add_argparse_args(parser)
    return [a.dest for a in parser._actions if a.dest != "help"]


def split_dataset(output_dataset: str) -> tuple[str, str]:
    """``project.dataset`` -> (project, dataset); the sink needs the project for its client."""
    project, sep, dataset = output_dataset.rpartition(".")
    if not sep or not project or not dataset:
        raise ValueError(f"output_dataset must be <project>.<dataset>, got {output_dataset!r}")
    return project, dataset


def check(options: AnalyticsOptions) -> None:
    """Fail fast, before any worker starts, on missing or malformed launch parameters."""
    missing = [name for name in ("input_subscription", "output_dataset") if not getattr(options, name)]
    if missing:
        raise ValueError(f"missing required pipeline options: {', '.join('--' + m for m in missing)}")
    if not options.input_subscription.startswith("projects/") or "/subscriptions/" not in options.input_subscription:
        raise ValueError(
            f"--input_subscription must be projects/<p>/subscriptions/<s>, got {options.input_subscription}"
        )
    split_dataset(options.output_dataset)
    if options.window_seconds <= 0 or options.allowed_lateness_seconds < 0:
        raise ValueError("window_seconds must be > 0 and allowed_lateness_seconds >= 0")
