"""``python -m lrlc_np`` runs the ``lrlc`` command line."""

import sys

from .cli import main

sys.exit(main())
