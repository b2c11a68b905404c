"""Which learning rule trained this network? Observables and rule identification.

spec: learning-rules.md §2 (thesis ch. 6, part II).

================  ============================================================================
module            holds
================  ============================================================================
``observables``   what is measured of a layer (weights, activations, activity change) and its
                  statistics; :class:`ObservableMeter` measures a model
``tables``        a run's tidy observables table (CSV, xarray)
``features``      the feature table of many runs: statistic trajectories x checkpoints
``classifiers``   linear SVM (optional PCA), random forest, 1-D convolution over time
``sweeps``        the identification experiments: splits, holdouts, trajectory, unit and
                  noise sweeps
``zoo``           training many runs (a zoo spec), shared by several processes
================  ============================================================================

The recorder inside training runs is :mod:`brainlike.train.callbacks.observables`
(switched on by a config's ``observe`` section).
"""
