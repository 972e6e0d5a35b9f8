"""`python -m trustbot`: the same as the `trustbot` command."""

from trustbot.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
