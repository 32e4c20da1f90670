"""``python -m mlipscope ...``: the same command line as the ``mlipscope`` script."""

from mlipscope.cli import script_main

script_main()
