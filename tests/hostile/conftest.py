"""Fixtures of the hostile-input tests: the analysis tests' segmentable support set."""

from tests.analysis.conftest import model_version, segmentable  # noqa: F401
