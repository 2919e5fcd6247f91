"""``python -m edge_runtime.measure verify|bench|select`` (see ``edge_runtime.measure.cli``)."""

import sys

from edge_runtime.measure.cli import main

sys.exit(main())
