"""``python -m localcloud.cli``: the same as the ``tributary`` command."""

from localcloud.cli import main

main()
