"""`python -m layerlab.cli ...`, the same as the `layerlab` command."""
import sys

from layerlab.cli import main

sys.exit(main())
