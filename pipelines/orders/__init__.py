"""The orders streaming pipeline (flex template ``orders``)."""
