"""``python -m jaxinit.cli``: the ``jaxinit`` command."""

from jaxinit.cli import entry

if __name__ == "__main__":
  entry()
