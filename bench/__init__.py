"""Benchmarks; ``python -m bench`` runs every module's ``run()`` (``make bench``)."""
