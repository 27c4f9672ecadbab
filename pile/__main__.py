"""`python -m pile` is the `pile` command."""

from pile.cli import main

raise SystemExit(main())
