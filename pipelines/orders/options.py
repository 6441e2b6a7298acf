"""Options of the orders flex template: exactly the launch parameters in config/launch_parameters.json.tftpl."""

from __future__ import annotations

from pipelines.common.options import AnalyticsOptions


class OrdersOptions(AnalyticsOptions):
    """input_subscription, output_dataset, window_seconds, allowed_lateness_seconds (see AnalyticsOptions)."""
