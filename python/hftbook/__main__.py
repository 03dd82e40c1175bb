"""``python -m hftbook``: the command line (see :mod:`hftbook.cli`).

Example::

    python -m hftbook simulate --max-ops 100000 --seed 7 --json run.json
"""

from __future__ import annotations

import sys

from hftbook.cli import main

if __name__ == "__main__":
    sys.exit(main())
