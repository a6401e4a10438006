"""``python -m star_operator.cli``."""
from star_operator.cli.main import main

raise SystemExit(main())
