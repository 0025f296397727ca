"""``python -m sandbox.reconciler``: run the reconciler process (see sandbox.reconciler.process)."""

import sys

from sandbox.reconciler.process import main

sys.exit(main())
