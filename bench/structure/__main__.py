"""``python -m bench.structure``: see :mod:`bench.structure`."""

from bench.structure.run import main

raise SystemExit(main())
