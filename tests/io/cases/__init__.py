"""Conformance cases, one module per reader (see ``tests/io/conformance.py``)."""
