"""``python -m mimetic.cli``: the console script without installing it."""

import sys

from mimetic.cli.main import main

sys.exit(main())
