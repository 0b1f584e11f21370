"""Python client of the Chiplab REST API (few-shot segmentation of electron micrographs).

>>> from chiplab_client import Client
>>> chiplab = Client("http://127.0.0.1:8000", token="chl_…")
>>> job = chiplab.jobs.create(images=[image_id], support_set=version_id)
>>> job.wait(progress=lambda j: print(f"{j.fraction:.0%}"))
"""

from ._http import __version__
from .areas.analysis import EXPORT_KINDS
from .areas.webhooks import SignatureError, verify_signature
from .client import Client
from .errors import ChiplabError
from .jobs import SegmentationJob, TrainingJob
from .operations import covered_operations

__all__ = [
    "EXPORT_KINDS",
    "ChiplabError",
    "Client",
    "SegmentationJob",
    "SignatureError",
    "TrainingJob",
    "__version__",
    "covered_operations",
    "verify_signature",
]
