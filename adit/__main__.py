"""``python -m adit`` is ``adit``."""

import sys

from adit.cli import main

sys.exit(main())
