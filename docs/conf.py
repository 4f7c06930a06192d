"""Sphinx configuration of jaxinit's documentation site.

Build it (as ``.ci/run`` does, warnings as errors)::

  pip install -e ".[docs]"
  python -m sphinx -W --keep-going -b html docs docs/_build/html

The API reference has one page per layer of ``docs/architecture.md``; the ``jaxinit-modules``
directive below reads that file's module table, so a module is listed (and documented) in one place
only. The narrative pages include README.md's sections and ``experiments/README.md`` rather than
copying them. The quickstart notebook is rendered with the outputs committed in it (myst-nb does not
execute it); ``tests/test_docs.py`` runs its code.
"""

import importlib
import inspect
import re
import tomllib
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

import jaxinit

DOCS = Path(__file__).resolve().parent
SOURCE = tomllib.loads((DOCS.parent / "pyproject.toml").read_text(encoding="utf-8")
                       )["project"]["urls"]["Source"]

project = "jaxinit"
author = "The jaxinit authors"
copyright = "the jaxinit authors"
release = version = jaxinit.__version__

extensions = [
    "myst_nb",  # Markdown pages (MyST) and the notebook
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # the docstrings' Google style: Args, Returns, Raises, References
    "sphinx.ext.mathjax",
]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # "Attributes:" as fields: a NamedTuple's fields are documented once

myst_heading_anchors = 3  # README's and the gallery's `#section` links
nb_execution_mode = "off"  # the notebook is committed executed; tests/test_docs.py runs it
nb_render_markdown_format = "gfm"  # the sweep's Markdown table, displayed, as a table
smartquotes = False  # scheme names stay copyable: {"*": "as_built"}, not curly quotes
suppress_warnings = ["myst.header"]  # included README sections start at level 2 or 3

html_theme = "alabaster"
html_title = f"jaxinit {version}"
html_theme_options = {"description": "weight initialization, populations and theory in JAX/Flax"}


# Links of the included README files -------------------------------------------------------------

LINKS = {  # a link target in README.md or experiments/README.md -> the same place on this site
    "](docs/architecture.md": "](architecture.md",
    "](experiments/README.md": "](gallery.md",
    "](results/)": f"]({SOURCE}/tree/main/experiments/results)",  # a folder: in the repository
}


def relink(app, relative_path, parent_docname, content) -> None:
  """``include-read``: the included READMEs' links, written relative to their own folders, made
  relative to the including page (the top of ``docs/``)."""
  for old, new in LINKS.items():
    content[0] = content[0].replace(old, new)


# The API reference, from docs/architecture.md's module table ------------------------------------

TABLE_ROW = re.compile(r"^\| `(jaxinit[\w.]*)` \| (.*) \|$", re.MULTILINE)


def module_table() -> dict[str, str]:
  """``{module: what it holds}`` from ``docs/architecture.md``, in the table's order."""
  return dict(TABLE_ROW.findall((DOCS / "architecture.md").read_text(encoding="utf-8")))


def unit(module: str) -> str:
  """A module's layer unit (``jaxinit.engine.train`` -> ``engine``); the root is ``jaxinit``."""
  return module.split(".")[1] if "." in module else module


def reexports(module: str) -> bool:
  """Whether ``module.__all__`` names functions or classes defined elsewhere (a public face):
  those are documented in their home module only, so the face documents what it defines."""
  try:
    mod = importlib.import_module(module)
  except ImportError:
    return False  # automodule says why
  found = (getattr(mod, name, None) for name in getattr(mod, "__all__", ()))
  return any((inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ != module
             for obj in found)


class ModulesDirective(SphinxDirective):
  """``.. jaxinit-modules:: UNIT ...``: a section per module of these units, with the module's line
  of ``docs/architecture.md`` and its ``automodule`` (members in ``__all__``, or what a face
  defines itself). The root ``jaxinit`` and ``__main__`` show their docstring only."""

  required_arguments = 1
  optional_arguments = 10

  def run(self) -> list[nodes.Node]:
    self.env.note_dependency(str(DOCS / "architecture.md"))
    units = set(self.arguments)
    lines = []
    for module, holds in module_table().items():
      if unit(module) not in units:
        continue
      lines += [module, "-" * len(module), "", re.sub(r"`([^`]+)`", r"``\1``", holds) + ".", "",
                f".. automodule:: {module}"]
      if module != "jaxinit" and not module.endswith("__main__"):
        lines.append("   :members:")
        if reexports(module):
          lines.append("   :ignore-module-all:")
      lines.append("")
    if not lines:
      raise self.error(f"no module of {' '.join(self.arguments)} in docs/architecture.md; accepted: "
                       f"{', '.join(sorted({unit(m) for m in module_table()}))}")
    node = nodes.section()
    nested_parse_with_titles(self.state, StringList(lines, source=self.get_source_info()[0]), node)
    return node.children


def setup(app):
  app.add_directive("jaxinit-modules", ModulesDirective)
  app.connect("include-read", relink)
  return {"parallel_read_safe": True}
