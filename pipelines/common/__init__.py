"""Building blocks shared by the orders and shipping pipelines: options, transforms, sink, logging."""
