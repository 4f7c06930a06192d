"""jaxinit: how weight initialization shapes deep networks, in JAX/Flax.

Public API::

  import jaxinit
  init = jaxinit.initializers.get("he_normal")      # or jaxinit.initializers.he_normal()
  w = init(jax.random.key(0), (784, 128))           # the jax.nn.initializers convention

The package is layered, each layer importing only from those before it (``tests/test_layers.py``
proves it; ``docs/architecture.md`` is the map)::

  names < activations, data < initializers < theory, nets < schemes < results < engine < studies < cli

Submodules load on first use (PEP 562), so ``import jaxinit.results.stats`` loads neither flax nor
optax nor the training engine. The flat module names of earlier versions resolve to their new
homes as attributes (``jaxinit.sweep.run``, ``from jaxinit import models``); ``import
jaxinit.sweep`` as a statement needs the new path (``import jaxinit.studies.sweep``).
"""

import importlib
from typing import Any

__version__ = "0.1.0"  # the one place it is written: pyproject.toml reads it; CITATION.cff and the
# README's BibTeX are checked against it (tests/test_packaging.py)

_SUBPACKAGES = ("names", "activations", "data", "initializers", "theory", "nets", "schemes",
                "results", "engine", "studies", "cli")

_MOVED = {  # a module's name before the layered layout -> where it lives now
    "initializer": "initializers.base", "distributions": "initializers.distributions",
    "variance_scaling": "initializers.variance_scaling", "structured": "initializers.structured",
    "gains": "theory.gains", "finite_width": "theory.finite_width", "isometry": "theory.isometry",
    "models": "nets.models", "parametrizations": "nets.parametrizations",
    "datadep": "schemes.datadep", "init_programs": "schemes.programs",
    "scheme_theory": "schemes.predictions",
    "records": "results.records", "provenance": "results.provenance", "stats": "results.stats",
    "tables": "results.tables", "paired": "results.paired", "plots": "results.plots",
    "folders": "results.folders",
    "population": "engine.population", "placement": "engine.placement",
    "sharding": "engine.sharding", "train": "engine.train", "optimizers": "engine.optimizers",
    "compilation": "engine.compilation", "signals": "engine.signals",
    "sweep": "studies.sweep", "width_sweep": "studies.width_sweep",
    "coordcheck": "studies.coordcheck", "diagnose": "studies.diagnose",
    "diagnostics": "studies.measure", "describe": "studies.describe",
    "experiment": "studies.gallery", "theory_summary": "studies.criticality",
}

_NAMES = {  # a name exported at the top -> the module that owns it
    "Activation": "activations", "Initializer": "initializers", "fans": "initializers",
    "torch_gain": "theory.gains", "variance_preserving_gain": "theory.gains",
}

__all__ = sorted({*_SUBPACKAGES, *_MOVED, *_NAMES})


def __getattr__(name: str) -> Any:
  """Import a submodule, a moved module or a top-level name on first access (PEP 562)."""
  if name in _SUBPACKAGES or name in _MOVED:
    return importlib.import_module(f"{__name__}.{_MOVED.get(name, name)}")
  if name in _NAMES:
    return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
  raise AttributeError(f"module 'jaxinit' has no attribute {name!r}")


def __dir__() -> list[str]:
  return sorted({*globals(), *__all__})
