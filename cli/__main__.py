"""``python -m cli``: the same as the ``seongsu`` console script."""

from cli import main

main()
