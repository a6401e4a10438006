"""``star-ca serve``: see star_ca.config for flags and STAR_CA_* environment variables."""
from __future__ import annotations

import sys
from collections.abc import Sequence

from star_ca.config import config_from_args


def main(argv: Sequence[str] | None = None) -> int:
    config = config_from_args(argv)
    from star_ca.server import main as serve_main
    return serve_main(config)


if __name__ == "__main__":
    sys.exit(main())
