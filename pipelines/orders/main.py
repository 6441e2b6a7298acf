"""Entry point of the orders job (the flex template's FLEX_TEMPLATE_PYTHON_PY_FILE).

Locally: ``python -m pipelines.orders.main --runner DirectRunner --streaming
--input_subscription projects/P/subscriptions/S --output_dataset P.D`` with the
emulator env vars (PUBSUB_EMULATOR_HOST, BIGQUERY_EMULATOR_HOST, BIGQUERY_STORAGE_EMULATOR_HOST) set.
"""

from __future__ import annotations

from pipelines.common.launch import run
from pipelines.orders.options import OrdersOptions
from pipelines.orders.pipeline import PIPELINE, build


def main(argv: list[str] | None = None) -> None:
    run(PIPELINE, OrdersOptions, build, argv)


if __name__ == "__main__":
    main()
