"""Labeling serializers, one module per concern (the API modules of the same names use
them)."""
