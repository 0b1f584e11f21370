"""``python -m chiplab_client``: the ``chiplab`` command line."""

import sys

from .cli import main

sys.exit(main())
