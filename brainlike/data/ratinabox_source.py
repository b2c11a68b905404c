"""Rat trajectories from RatInABox's motion model, as a drop-in for the spec's random walk.

RatInABox (George et al., eLife 2024) moves an agent with smooth, rat-like statistics: speed
and rotational velocity follow Ornstein-Uhlenbeck processes fitted to real rat data, and the
agent drifts away from and lingers along walls (thigmotaxis). This module runs one RatInABox
``Agent`` per episode in a square ``Environment`` of side ``arena`` and returns the same
:class:`~brainlike.data.trajectories.Trajectories` as
:func:`~brainlike.data.trajectories.generate_trajectories`, so the path-integration task can
train on either stream (spec: mouse-and-entorhinal.md §2, "Trajectories", uses the simpler
walk; RatInABox is an optional alternative).

Conventions:

- RatInABox's box is ``[0, arena]^2``; positions are shifted by ``-arena / 2`` so the box is
  centred at 0 like the project's walk.
- One step is ``dt = 0.02`` s (:data:`brainlike.data.trajectories.DT`).
- ``velocity`` is the displacement of each step (position differences, metres), so
  ``position[:, t] = init_position + sum_{s <= t} velocity[:, s]``; ``speed`` is the agent's
  measured speed of that step (m/s, = |displacement| / dt); ``head_direction`` is the angle of
  the agent's (smoothed) head-direction vector; ``near_wall`` marks steps that end closer than
  :data:`~brainlike.data.trajectories.BORDER` (3 cm) to a wall.
- RatInABox draws from numpy's global random state. A batch is made under
  ``numpy.random.seed`` of a state derived from ``(seed, step)`` (the same pair gives the same
  batch), and the caller's global state is restored afterwards, so nothing leaks; this is not
  thread-safe (another thread drawing from ``numpy.random`` meanwhile would interleave).
- The motion model's parameters are RatInABox's defaults (measured mean speed about 0.085 m/s,
  a twelfth of the spec walk's ~1 m/s); pass ``agent_params`` to change them (e.g. ``speed_mean``).

RatInABox steps one agent at a time in Python: about 1,500 agent-steps per second on one CPU
core, i.e. about 70 trajectories of 20 steps per second against about 300,000 for the batched
torch walk (measured on a shared CPU). Install with ``pip install brainlike[ratinabox]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from brainlike.data.trajectories import BORDER, DT, Trajectories

__all__ = ["ratinabox_trajectories"]


def _import_ratinabox() -> Any:
    try:
        import ratinabox
        from ratinabox.Agent import Agent
        from ratinabox.Environment import Environment
    except ImportError:
        raise ImportError(
            "RatInABox trajectories need the optional package ratinabox: "
            "pip install brainlike[ratinabox]"
        ) from None
    return ratinabox, Agent, Environment


def _check(batch: int, steps: int, arena: float, agent_params: Any) -> None:
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch is {batch!r}; it must be a positive integer (e.g. 200)")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps is {steps!r}; it must be a positive integer (e.g. 20)")
    if not isinstance(arena, (int, float)) or not math.isfinite(arena) or arena <= 0:
        raise ValueError(f"arena is {arena!r}; it must be a positive side in metres (e.g. 2.2)")
    if agent_params is not None and not isinstance(agent_params, Mapping):
        raise ValueError("agent_params must be a dict of RatInABox Agent parameters, or None")
    if agent_params and "dt" in agent_params:
        raise ValueError(f"agent_params sets dt; the step is fixed at the project's DT = {DT} s")


def _numpy_seed(seed: int, step: int) -> np.ndarray:
    # One independent stream per (seed, step), as generate_trajectories does for torch.
    return np.random.SeedSequence([int(seed), int(step), 0x5241_4942]).generate_state(4)


def ratinabox_trajectories(
    batch: int,
    steps: int,
    *,
    arena: float,
    seed: int,
    step: int,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    agent_params: Mapping[str, Any] | None = None,
) -> Trajectories:
    """A batch of RatInABox trajectories in a square box centred at 0.

    Parameters
    ----------
    batch : number of episodes ``B`` (one RatInABox agent each).
    steps : time steps ``T`` of ``dt = 0.02`` s per episode.
    arena : side of the square box in metres.
    seed, step : the data of one training step; the same pair gives the same batch.
    device, dtype : where the returned tensors live and their floating dtype.
    agent_params : RatInABox ``Agent`` parameters to override (e.g. ``{"speed_mean": 0.2}``);
        ``dt`` is fixed.

    Returns
    -------
    Trajectories
        Positions, headings, speeds and displacements of shape (B, T[, 2]); no landmarks or
        reward.
    """
    _check(batch, steps, arena, agent_params)
    ratinabox, Agent, Environment = _import_ratinabox()
    params = {**(agent_params or {}), "dt": DT}
    saved_state = np.random.get_state()
    saved_verbose = getattr(ratinabox, "verbose", False)
    pos = np.empty((batch, steps + 1, 2))
    hd = np.empty((batch, steps + 1))
    speed = np.empty((batch, steps))
    dist = np.empty((batch, steps))
    try:
        ratinabox.verbose = False
        np.random.seed(_numpy_seed(seed, step))
        env = Environment({"scale": float(arena), "aspect": 1, "boundary_conditions": "solid"})
        for b in range(batch):
            agent = Agent(env, dict(params))
            pos[b, 0] = agent.pos
            hd[b, 0] = math.atan2(agent.head_direction[1], agent.head_direction[0])
            for t in range(steps):
                agent.update(dt=DT)
                pos[b, t + 1] = agent.pos
                hd[b, t + 1] = math.atan2(agent.head_direction[1], agent.head_direction[0])
                speed[b, t] = float(np.linalg.norm(agent.measured_velocity))
                dist[b, t] = agent.distance_to_closest_wall
    finally:
        np.random.set_state(saved_state)
        ratinabox.verbose = saved_verbose
    pos -= arena / 2  # RatInABox's box is [0, arena]^2; the project's is centred at 0

    def put(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x).to(device=device, dtype=dtype)

    return Trajectories(
        init_position=put(pos[:, 0]),
        init_head_direction=put(hd[:, 0]),
        position=put(pos[:, 1:]),
        head_direction=put(hd[:, 1:]),
        speed=put(speed),
        velocity=put(np.diff(pos, axis=1)),
        near_wall=torch.as_tensor(dist < BORDER, device=device),
        arena=float(arena),
    )
