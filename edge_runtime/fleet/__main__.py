"""``python -m edge_runtime.fleet status|rollout|serve`` (see ``edge_runtime.fleet.cli``)."""

import sys

from edge_runtime.fleet.cli import main

sys.exit(main())
