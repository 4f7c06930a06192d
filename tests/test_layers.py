"""The package's layering, read from its source: no module imports from a layer above its own.

The layers, bottom to top (a package's modules may import each other; siblings in one layer may not)::

  names < activations, data < initializers < theory, nets < schemes < results < engine < studies < cli

``docs/architecture.md`` lists every module of the package, and only those: checked here too.
"""

import ast
import pathlib
import re
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "jaxinit"
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"

LAYERS = (("names",), ("activations", "data"), ("initializers",), ("theory", "nets"), ("schemes",),
          ("results",), ("engine",), ("studies",), ("cli",))
LEVEL = {unit: level for level, units in enumerate(LAYERS) for unit in units}


def modules(package: pathlib.Path = PACKAGE) -> dict[str, str]:
  """``{dotted module name: source}`` of every module under ``package``."""
  out = {}
  for path in sorted(package.rglob("*.py")):
    parts = path.relative_to(package.parent).with_suffix("").parts
    name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    out[name] = path.read_text()
  return out


def imported(source: str) -> set[str]:
  """The jaxinit modules a source imports, anywhere in it (inside functions too). Forms this check
  could not follow are reported as modules in no layer: a relative import (``jaxinit.<relative>``),
  a bare ``import jaxinit`` (``jaxinit.<root>``) and ``importlib.import_module`` of a jaxinit or
  computed name (``jaxinit.<importlib>``)."""
  out = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.ImportFrom) and node.level > 0:
      out.add("jaxinit.<relative>")
    elif isinstance(node, ast.Import) and any(alias.name == "jaxinit" for alias in node.names):
      out.add("jaxinit.<root>")
    elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
          and node.func.attr == "import_module" and not (
              node.args and isinstance(node.args[0], ast.Constant)
              and not str(node.args[0].value).startswith("jaxinit"))):
      out.add("jaxinit.<importlib>")  # a computed or jaxinit name (a third-party one is fine)
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      if node.module == "jaxinit":
        out |= {f"jaxinit.{alias.name}" for alias in node.names}
      elif node.module.startswith("jaxinit."):
        out.add(node.module)
    elif isinstance(node, ast.Import):
      out |= {alias.name for alias in node.names if alias.name.startswith("jaxinit.")}
  return out


def unit(module: str) -> str:
  """The layer unit of a dotted module name: its top-level part under ``jaxinit``."""
  return module.split(".")[1]


def violations(sources: dict[str, str]) -> list[str]:
  """Every import of a module from a layer above its own or from a sibling of its layer."""
  out = []
  for name, source in sources.items():
    if name == "jaxinit":
      continue  # the lazy root face (PEP 562) imports nothing itself
    here = unit(name)
    for target in sorted(imported(source)):
      there = unit(target)
      if there not in LEVEL:
        out.append(f"{name} imports {target}, which is in no layer")
      elif there != here and LEVEL[there] >= LEVEL[here]:
        out.append(f"{name} (layer {LEVEL[here]}) imports {target} (layer {LEVEL[there]})")
  return out


def test_every_unit_has_a_layer():
  units = {unit(name) for name in modules() if name != "jaxinit"}
  assert units == set(LEVEL), f"units without a layer: {units - set(LEVEL)}; " \
                              f"layers without a unit: {set(LEVEL) - units}"


def test_no_module_imports_from_above():
  assert violations(modules()) == []


@pytest.mark.parametrize("source, found", [
    ("from jaxinit.engine import train", True),  # results -> engine: upward
    ("def f():\n  from jaxinit import sweep as s", True),  # an old flat name: in no layer
    ("from jaxinit.studies import sweep", True),
    ("from jaxinit.initializers import base", False),
    ("from jaxinit.results import stats", False),  # its own package
    ("from . import stats", True),  # forms the check cannot follow are refused
    ("import jaxinit", True),
    ("import importlib\nimportlib.import_module('jaxinit.engine.train')", True),
])
def test_the_check_catches_an_upward_import(source, found):
  sources = {**modules(), "jaxinit.results.extra": source}
  assert any(v.startswith("jaxinit.results.extra") for v in violations(sources)) == found


def test_architecture_lists_every_module():
  listed = set(re.findall(r"^\| `(jaxinit[\w.]*)` \|", ARCHITECTURE.read_text(), re.MULTILINE))
  present = set(modules())
  assert listed == present, (f"in docs/architecture.md but not in the package: {listed - present}; "
                             f"in the package but not in docs/architecture.md: {present - listed}")


def test_architecture_states_the_layers():
  text = ARCHITECTURE.read_text()
  order = " < ".join(", ".join(units) for units in LAYERS)
  assert order in text, f"docs/architecture.md should state the layer order: {order}"


def _loaded_after(statement: str) -> set[str]:
  code = f"import sys; {statement}; print(' '.join(sys.modules))"
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  return set(out.stdout.split())


def test_results_load_neither_training_nor_flax_nor_optax():
  loaded = _loaded_after("import jaxinit.results.stats, jaxinit.results.paired, jaxinit.results")
  heavy = {m for m in loaded if m.split(".")[0] in ("flax", "optax", "jax")
           or m.startswith(("jaxinit.engine", "jaxinit.nets", "jaxinit.studies"))}
  assert heavy == set()


def test_initializers_load_no_training_flax_or_optax():
  loaded = _loaded_after("import jaxinit; jaxinit.initializers.get('he_normal')")
  heavy = {m for m in loaded if m.split(".")[0] in ("flax", "optax")
           or m.startswith(("jaxinit.engine", "jaxinit.studies", "jaxinit.results"))}
  assert heavy == set()


def test_import_jaxinit_loads_no_submodule():
  assert {m for m in _loaded_after("import jaxinit") if m.startswith("jaxinit.")} == set()


@pytest.mark.parametrize("path", [
    "jaxinit.initializers.get", "jaxinit.initializers.he_normal", "jaxinit.initializers.Initializer",
    "jaxinit.results.load", "jaxinit.results.summarize", "jaxinit.results.read_records",
    "jaxinit.theory.chi_perp", "jaxinit.theory.critical_point", "jaxinit.schemes.get",
    "jaxinit.torch_gain", "jaxinit.variance_preserving_gain", "jaxinit.Initializer", "jaxinit.fans",
    "jaxinit.Activation",
    # the flat module names of the layout before this one, still resolved
    "jaxinit.sweep.run", "jaxinit.models.ModelConfig", "jaxinit.population.grid",
    "jaxinit.stats.summarize", "jaxinit.finite_width.fourth_moment_ratio",
    "jaxinit.diagnostics.diagnose", "jaxinit.theory_summary.summarize", "jaxinit.train.run",
])
def test_public_paths_resolve(path):
  import jaxinit

  obj = jaxinit
  for part in path.split(".")[1:]:
    obj = getattr(obj, part)
  assert callable(obj) or isinstance(obj, type)


def test_an_unknown_attribute_is_an_attribute_error():
  import jaxinit

  with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
    jaxinit.nonexistent  # noqa: B018
