"""`python -m bnnfpga ...` is the `bnnfpga` command."""
import sys

from bnnfpga.cli import main

sys.exit(main())
