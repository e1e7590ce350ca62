"""``python -m kubeloop``: the same as the ``kubeloop`` command."""

import sys

from kubeloop.cli import main

sys.exit(main())
