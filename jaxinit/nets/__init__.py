"""The networks: :mod:`~jaxinit.nets.models` (Flax MLP, CNN and residual MLP with sown intermediates,
``ModelConfig``, the per-example loss) and :mod:`~jaxinit.nets.parametrizations` (SP, NTK, muP and
mean-field as powers of width over a base width)."""
