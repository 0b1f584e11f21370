"""Models of the labeling app."""

from django.db import models  # noqa: F401
