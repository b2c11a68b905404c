"""Training: one loop (HF Accelerate) that takes a task and callbacks.

- :mod:`~brainlike.train.loop`: :func:`train`, the loop itself;
- :mod:`~brainlike.train.tasks`: what is trained (image classification, number codes);
- :mod:`~brainlike.train.callbacks`: what is recorded while training (grid snapshots);
- :mod:`~brainlike.train.run_dir`: the run folder, its lock and partial starts;
- :mod:`~brainlike.train.build`: the model a run starts from;
- :mod:`~brainlike.train.checkpoint`: atomic checkpoints, ``weights_only`` loading;
- :mod:`~brainlike.train.recipes`, :mod:`~brainlike.train.finetune`: the brain-likeness
  recipes of image classification; :mod:`~brainlike.train.compare`: trained-model comparisons.
"""
