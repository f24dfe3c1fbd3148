"""``python -m mnist_kmeans``: the same as the ``mnist-kmeans`` command."""

from .cli import main

raise SystemExit(main())
