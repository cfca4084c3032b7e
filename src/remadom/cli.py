"""The ``remadom`` command (entry point ``remadom.cli:main``); the code is in :mod:`remadom.workflow`.

Imports only the standard library, so ``remadom --help`` answers without loading PyTorch.
"""

from __future__ import annotations

import sys

from .workflow._cli import main

__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
