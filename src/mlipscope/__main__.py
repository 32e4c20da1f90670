"""``python -m mlipscope ...``: the same command line as the ``mlipscope`` script."""

import sys

from mlipscope.cli import main

sys.exit(main())
