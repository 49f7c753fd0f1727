"""``python -m cocalc_widgets <subcommand>``: the same as the ``cocalc-widgets`` command."""

import sys

from .cli import main

sys.exit(main())
