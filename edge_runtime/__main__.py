"""``python -m edge_runtime run --config SITE`` and ``python -m edge_runtime replay VIDEO --config SITE``."""

import sys

from edge_runtime.cli import main

sys.exit(main())
