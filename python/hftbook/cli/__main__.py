"""``python -m hftbook.cli``: the same as ``python -m hftbook`` and the ``hftbook`` command."""

from __future__ import annotations

import sys

from hftbook.cli import main

if __name__ == "__main__":
    sys.exit(main())
