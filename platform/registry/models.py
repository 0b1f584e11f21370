"""Models of the registry app."""

from django.db import models  # noqa: F401
