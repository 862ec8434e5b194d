"""Runs `trirole.examples.custom_corrector` (the code is there, installed with trirole), so
this script works from any directory:

    python examples/custom_corrector.py "Compute 17 * 23 and call complete_task with the result."
"""

import sys

from trirole.examples.custom_corrector import cli

if __name__ == "__main__":
    sys.exit(cli())
