"""The population engine: members and their stacked parameters (:mod:`~jaxinit.engine.population`),
where they train (:mod:`~jaxinit.engine.placement`, :mod:`~jaxinit.engine.sharding`), the compiled
training programs (:mod:`~jaxinit.engine.train`, :mod:`~jaxinit.engine.optimizers`), stop requests
(:mod:`~jaxinit.engine.signals`) and JAX's compile log (:mod:`~jaxinit.engine.compilation`)."""
