"""jaxinit: how weight initialization shapes deep networks, in JAX/Flax.

Public API::

  import jaxinit
  init = jaxinit.initializers.get("he_normal")      # or jaxinit.initializers.he_normal()
  w = init(jax.random.key(0), (784, 128))           # the jax.nn.initializers convention
"""

from jaxinit import (
    activations,
    coordcheck,
    data,
    describe,
    diagnose,
    diagnostics,
    folders,
    gains,
    initializers,
    models,
    names,
    parametrizations,
    population,
    records,
    results,
    sharding,
    signals,
    stats,
    sweep,
    tables,
    theory,
    theory_summary,
    train,
    width_sweep,
)
from jaxinit.activations import Activation
from jaxinit.gains import torch_gain, variance_preserving_gain
from jaxinit.initializers import Initializer, fans

__version__ = "0.1.0"

__all__ = [
    "Activation", "Initializer", "activations", "coordcheck", "data", "describe", "diagnose",
    "diagnostics", "fans", "folders", "gains", "initializers", "models", "names",
    "parametrizations", "population", "records", "results", "sharding", "signals", "stats", "sweep",
    "tables", "theory", "theory_summary", "torch_gain", "train", "variance_preserving_gain",
    "width_sweep",
]
