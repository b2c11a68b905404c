"""Tasks: what the one training loop trains a model to do.

A task supplies the data stream of a run (the batches of an epoch, the held-out set), the loss
of a batch and the metrics of an epoch; the loop (:mod:`brainlike.train.loop`) supplies
everything else (model, optimizer, schedule, checkpoints, resume, progress, callbacks). A new
system adds a :class:`Task`, never a second loop.

Contract, in the order the loop calls it:

1. ``model_io`` (in_channels, out_features, input_size): what the model must take and give.
2. ``check_model(model)`` before any weight is loaded; ``bind(model, device)`` once the model
   sits on its device (for resolving sheets, class weights, held-out loaders).
3. Each epoch: ``start_epoch(model, epoch)`` (returns a suffix for the progress label),
   ``train_loader(epoch)`` (its shuffling seeded by (seed, epoch) so a resumed run repeats it),
   ``step(model, batch, epoch)`` per batch, ``after_optimizer_step(optimizer)``,
   ``evaluate(model)`` at the end, ``epoch_notes(epoch)`` for the metrics row.
4. ``state_dict``/``load_state_dict``: anything beyond the model that must survive a resume
   (memory banks, queues); empty for stateless tasks, and then not written to checkpoints.
"""

from __future__ import annotations

from typing import Any

# every module that registers tasks; importing them fills the table
from brainlike.registry import TASKS
from brainlike.train.tasks import images, pathint, selfsupervised  # noqa: F401
from brainlike.train.tasks.base import StepOutput, Task

__all__ = ["StepOutput", "Task", "make_task"]


def make_task(cfg: Any) -> Task:
    """The task ``cfg.objective.task`` names, with its data loaded.

    ``classification`` (:class:`~brainlike.train.tasks.images.ImageClassification`) trains on
    class labels; ``codes`` (:class:`~brainlike.train.tasks.images.NumberCodes`) on the number
    codes of spec topography.md §1 (the config checks that the data set provides them);
    the self-supervised tasks of spec mouse-and-entorhinal.md §1 are in
    :mod:`~brainlike.train.tasks.selfsupervised`; ``path_integration``
    (:mod:`~brainlike.train.tasks.pathint`, spec §2) generates its own trajectories and loads
    no images.
    """
    from brainlike.data.images import load_experiment_dataset

    if cfg.data.dataset == "trajectories":
        return TASKS.entry(cfg.objective.task).constructor(cfg)
    bundle = load_experiment_dataset(cfg)
    return TASKS.entry(cfg.objective.task).constructor(cfg, bundle)
