"""`python -m rnncalc` is the `rnncalc` command."""

import sys

from .cli import main

sys.exit(main())
