"""``python -m jaxinit.cli``: the ``jaxinit`` command."""

from jaxinit.cli import main

if __name__ == "__main__":
  raise SystemExit(main())
