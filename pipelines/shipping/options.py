"""Options of the shipping flex template: exactly the launch parameters in config/launch_parameters.json.tftpl."""

from __future__ import annotations

from pipelines.common.options import AnalyticsOptions


class ShippingOptions(AnalyticsOptions):
    """input_subscription, output_dataset, window_seconds, allowed_lateness_seconds (see AnalyticsOptions)."""
