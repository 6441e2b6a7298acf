"""The shipping streaming pipeline (flex template ``shipping``)."""
