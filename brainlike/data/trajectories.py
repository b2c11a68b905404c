"""Rat-like random walks in a square box: the path-integration task's input stream.

A simulated rat explores a square arena of side ``arena`` metres centred at the origin
(spec: mouse-and-entorhinal.md §2, "Trajectories"). It starts at a uniform position with a
uniform head direction; at every time step of ``dt = 0.02`` s it draws a forward speed from a
Rayleigh law (scale ``0.13 * 2 pi`` m/s) and a turn ``dt * N(0, 11.52 rad/s)``. Near a wall
(closer than 3 cm and heading into it) it turns until it runs parallel to the wall and slows
to a quarter of its speed. A path-integrating network sees only the self-motion input, the
displacement ``(v dt cos hd, v dt sin hd)`` of each step, and must report where it is.

Order of events within step ``t`` (the spec leaves it open; this order makes the wall turn act
before the animal moves): the wall rule reads the position and heading reached at the end of
step ``t - 1``; the heading turns (wall turn + random turn) to ``hd_t``; the animal moves
``v_t dt`` along ``hd_t``. Hence ``position[:, t] = init_position + sum_{s <= t} velocity[:, s]``
exactly (up to float rounding): the inputs integrate to the positions.

One addition the spec does not state: the spec's rule keeps the animal in the box only on
average (a fast Rayleigh draw from just outside the 3 cm border can cross a wall), so a step
that would leave the box is shortened to stop just short of the wall (the stored speed and
displacement are the shortened ones). It is rare: well under 1 % of steps in the 2.2 m box.

Optional extras (spec §2): distances to five square landmark cues (0 inside a cue), present in
a random half of the episodes; and a reward-directed variant in which 62.5 % of the episodes
run straight to a 0.2 m reward zone centred at (0.75, 0.75) in 7 steps and then random-walk
inside the zone.

Random numbers are drawn on the CPU from a ``torch.Generator`` seeded by ``(seed, step)``, so
a resumed training run sees the same batches, on any device; the time loop runs on ``device``.
10,000 trajectories of 20 steps take about 0.1 s on one CPU core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "BORDER",
    "CUES",
    "DT",
    "REWARD_ZONE",
    "RUN_STEPS",
    "SPEED_SCALE",
    "TURN_SD",
    "Trajectories",
    "cue_distances",
    "generate_trajectories",
]

# spec: mouse-and-entorhinal.md §2, "Trajectories"
DT = 0.02  #: seconds per step
SPEED_SCALE = 0.13 * 2 * math.pi  #: Rayleigh scale of the forward speed, m/s
TURN_SD = 11.52  #: s.d. of the angular velocity, rad/s (a step turns by dt times this)
BORDER = 0.03  #: metres: closer than this to a wall, heading into it, the wall rule acts
WALL_SLOWDOWN = 0.25
#: Landmark cues as (centre x, centre y, side) in metres.
CUES: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.0, 0.3),
    (0.35, 0.35, 0.2),
    (-0.3, -0.3, 0.1),
    (0.6, 0.5, 0.1),
    (-0.7, -0.6, 0.06),
)
CUE_FRACTION = 0.5  #: fraction of episodes in which the cues are present
#: Reward zone as (centre x, centre y, side): the square x, y in [0.65, 0.85].
REWARD_ZONE: tuple[float, float, float] = (0.75, 0.75, 0.2)
DIRECTED_FRACTION = 0.625  #: fraction of reward-directed episodes
RUN_STEPS = 7  #: steps of the straight run to the zone centre

# Outward normals of the walls in the order right, top, left, bottom (angles in radians).
_WALL_NORMALS = (0.0, math.pi / 2, math.pi, -math.pi / 2)
# A shortened step stops this fraction of the way to the wall, so the animal stays inside.
_STOP_SHORT = 0.999


@dataclass
class Trajectories:
    """A batch of ``B`` random walks of ``T`` steps (tensors on one device, metres, radians).

    Attributes
    ----------
    init_position : (B, 2) start position.
    init_head_direction : (B,) start heading.
    position : (B, T, 2) position at the end of each step.
    head_direction : (B, T) heading during each step (after that step's turn).
    speed : (B, T) forward speed of each step, m/s.
    velocity : (B, T, 2) displacement of each step, ``speed * dt * (cos hd, sin hd)``: the
        path-integration input.
    near_wall : (B, T) whether the wall rule (turn parallel, slow down) acted at that step.
    arena : side of the box, metres.
    cue_distance : (B, T, 5) distance from each position to each cue of :data:`CUES` (0 inside
        a cue), or None without landmarks. Computed for every episode;
        :meth:`inputs` hides it where the cues are absent.
    cues_present : (B,) whether the cues are present in the episode, or None.
    reward : (B, T) 1.0 where the position lies in the reward zone, else 0.0, or None.
    directed : (B,) whether the episode ran to the reward zone, or None.
    """

    init_position: torch.Tensor
    init_head_direction: torch.Tensor
    position: torch.Tensor
    head_direction: torch.Tensor
    speed: torch.Tensor
    velocity: torch.Tensor
    near_wall: torch.Tensor
    arena: float
    cue_distance: torch.Tensor | None = None
    cues_present: torch.Tensor | None = None
    reward: torch.Tensor | None = None
    directed: torch.Tensor | None = None

    @property
    def batch(self) -> int:
        return int(self.position.shape[0])

    @property
    def steps(self) -> int:
        return int(self.position.shape[1])

    def inputs(self) -> torch.Tensor:
        """The network's input per step: (B, T, D).

        The displacement (2 values), then, with landmarks, the five cue distances (zero in the
        episodes without cues), then, with the reward variant, the reward signal (1 value).
        """
        parts = [self.velocity]
        if self.cue_distance is not None and self.cues_present is not None:
            parts.append(self.cue_distance * self.cues_present[:, None, None].to(self.velocity))
        if self.reward is not None:
            parts.append(self.reward[..., None])
        return torch.cat(parts, dim=-1)


def _generator(seed: int, step: int) -> torch.Generator:
    # One independent stream per (seed, step); SeedSequence mixes the pair well.
    state = np.random.SeedSequence([int(seed), int(step)]).generate_state(2, np.uint32)
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)
    return gen


def _check(batch: int, steps: int, arena: float, reward: bool) -> None:
    if not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch is {batch!r}; it must be a positive integer (e.g. 200)")
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps is {steps!r}; it must be a positive integer (e.g. 20)")
    if not isinstance(arena, (int, float)) or not math.isfinite(arena) or arena <= 0:
        raise ValueError(f"arena is {arena!r}; it must be a positive side in metres (e.g. 2.2)")
    zx, zy, zs = REWARD_ZONE
    if reward and max(zx, zy) + zs / 2 > arena / 2:
        raise ValueError(
            f"arena is {arena} m but the reward zone reaches {max(zx, zy) + zs / 2} m from the "
            f"centre; use reward=False or an arena of side at least {2 * (max(zx, zy) + zs / 2)} m"
        )


def cue_distances(position: torch.Tensor) -> torch.Tensor:
    """Euclidean distance from each position to each square cue of :data:`CUES`.

    Parameters
    ----------
    position : (..., 2) positions in metres.

    Returns
    -------
    (..., 5) distances in metres; 0 inside (or on the edge of) a cue.
    """
    cues = torch.tensor(CUES, dtype=position.dtype, device=position.device)
    offset = (position[..., None, :] - cues[:, :2]).abs() - cues[:, 2:] / 2  # (..., 5, 2)
    return offset.clamp(min=0).norm(dim=-1)


def _wrap(angle: torch.Tensor) -> torch.Tensor:
    return torch.remainder(angle + math.pi, 2 * math.pi) - math.pi


def _walk(
    pos: torch.Tensor,
    hd: torch.Tensor,
    speed: torch.Tensor,
    turn: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
) -> tuple[torch.Tensor, ...]:
    """The spec's random walk inside per-episode boxes ``[lo, hi]^2`` (one Python loop over time).

    ``speed`` and ``turn`` are the (B, T) random draws (m/s, and rad/s times dt); returns
    positions, headings, speeds, displacements (each per step) and the wall-rule mask.
    """
    normals = torch.tensor(_WALL_NORMALS, dtype=pos.dtype, device=pos.device)
    positions, headings, speeds, moves, walls = [], [], [], [], []
    for t in range(speed.shape[1]):
        # spec: mouse-and-entorhinal.md §2 — near a wall and heading into it: turn by
        # sign(a)(pi/2 - |a|) (parallel to the wall) and slow to a quarter.
        dist = torch.stack(
            [
                hi[:, 0] - pos[:, 0],
                hi[:, 1] - pos[:, 1],
                pos[:, 0] - lo[:, 0],
                pos[:, 1] - lo[:, 1],
            ],
            dim=1,
        )
        d_wall, nearest = dist.min(dim=1)
        a = _wrap(hd - normals[nearest])
        near = (d_wall < BORDER) & (a.abs() < math.pi / 2)
        wall_turn = torch.where(near, torch.sign(a) * (math.pi / 2 - a.abs()), torch.zeros_like(a))
        v = torch.where(near, speed[:, t] * WALL_SLOWDOWN, speed[:, t])
        hd = _wrap(hd + wall_turn + turn[:, t])
        direction = torch.stack([torch.cos(hd), torch.sin(hd)], dim=1)
        # Shorten a step that would cross a wall (the spec's rule alone does not forbid it).
        with torch.no_grad():
            room = torch.where(direction > 0, (hi - pos) / direction, (lo - pos) / direction)
            room = torch.where(direction == 0, torch.full_like(room, math.inf), room)
        length = torch.minimum(v * DT, _STOP_SHORT * room.min(dim=1).values.clamp(min=0))
        move = length[:, None] * direction
        pos = pos + move
        positions.append(pos)
        headings.append(hd)
        speeds.append(length / DT)
        moves.append(move)
        walls.append(near)
    stack = torch.stack
    return (
        stack(positions, 1),
        stack(headings, 1),
        stack(speeds, 1),
        stack(moves, 1),
        stack(walls, 1),
    )


def _directed_run(
    start: torch.Tensor, target: torch.Tensor, n: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A straight run from ``start`` to ``target`` in ``n`` equal steps (spec §2, reward variant)."""
    move = (target - start) / n  # (B, 2)
    hd = torch.atan2(move[:, 1], move[:, 0])
    frac = torch.arange(1, n + 1, dtype=start.dtype, device=start.device)
    positions = start[:, None, :] + frac[None, :, None] * move[:, None, :]
    speed = (move.norm(dim=1) / DT)[:, None].expand(-1, n)
    return positions, hd[:, None].expand(-1, n), speed, move[:, None, :].expand(-1, n, -1)


def generate_trajectories(
    batch: int,
    steps: int = 20,
    *,
    arena: float = 2.2,
    seed: int = 0,
    step: int = 0,
    device: str | torch.device = "cpu",
    landmarks: bool = False,
    reward: bool = False,
    dtype: torch.dtype = torch.float32,
) -> Trajectories:
    """Generate a batch of the spec's rat random walks (spec: mouse-and-entorhinal.md §2).

    Parameters
    ----------
    batch : number of episodes ``B``.
    steps : time steps ``T`` per episode (20 in the spec).
    arena : side of the square box in metres, centred at 0 (2.2, 1.5 or 1 in the spec).
    seed, step : the data of one training step; the same pair gives the same batch on any device.
    device : where the tensors live and the time loop runs.
    landmarks : also compute the cue distances; the cues are present in half of the episodes.
    reward : the reward-directed variant (needs ``arena >= 1.7``): 62.5 % of the episodes run
        straight to the reward zone's centre in 7 steps (or all steps if fewer), then
        random-walk inside the 0.2 m zone; the others are plain walks. Adds a reward signal.
    dtype : floating dtype of the tensors.

    Returns
    -------
    Trajectories
        Positions, headings, speeds and displacements of shape (B, T[, 2]).
    """
    _check(batch, steps, arena, reward)
    gen = _generator(seed, step)
    half = arena / 2
    # Every random number up front, on the CPU (device-independent), in a fixed order.
    start = (torch.rand(batch, 2, generator=gen, dtype=torch.float64) * 2 - 1) * half
    hd0 = (torch.rand(batch, generator=gen, dtype=torch.float64) * 2 - 1) * math.pi
    u = torch.rand(batch, steps, generator=gen, dtype=torch.float64)
    speed = SPEED_SCALE * torch.sqrt(-2 * torch.log1p(-u))  # Rayleigh by inversion
    turn = DT * TURN_SD * torch.randn(batch, steps, generator=gen, dtype=torch.float64)
    cue_draw = torch.rand(batch, generator=gen, dtype=torch.float64)
    directed_draw = torch.rand(batch, generator=gen, dtype=torch.float64)

    def put(x: torch.Tensor) -> torch.Tensor:
        return x.to(device=device, dtype=dtype)

    start, hd0, speed, turn = put(start), put(hd0), put(speed), put(turn)
    lo = torch.full((batch, 2), -half, dtype=dtype, device=device)
    hi = torch.full((batch, 2), half, dtype=dtype, device=device)
    if not reward:
        pos, hd, v, move, near = _walk(start, hd0, speed, turn, lo, hi)
        directed = None
    else:
        directed = (directed_draw < DIRECTED_FRACTION).to(device)
        pos, hd, v, move, near = _walk(start, hd0, speed, turn, lo, hi)
        zx, zy, zs = REWARD_ZONE
        centre = torch.tensor([zx, zy], dtype=dtype, device=device).expand(batch, 2)
        z_lo, z_hi = centre - zs / 2, centre + zs / 2
        n_run = min(RUN_STEPS, steps)
        r_pos, r_hd, r_v, r_move = _directed_run(start, centre, n_run)
        r_near = torch.zeros(batch, n_run, dtype=torch.bool, device=device)
        if steps > n_run:
            # Then a random walk inside the zone, from its centre, reusing the episode's draws.
            z = _walk(centre, r_hd[:, -1], speed[:, n_run:], turn[:, n_run:], z_lo, z_hi)
            r_pos, r_hd, r_v, r_move, r_near = (
                torch.cat([a, b], dim=1)
                for a, b in zip((r_pos, r_hd, r_v, r_move, r_near), z, strict=True)
            )
        pick = directed[:, None]
        pos = torch.where(pick[..., None], r_pos, pos)
        move = torch.where(pick[..., None], r_move, move)
        hd = torch.where(pick, r_hd, hd)
        v = torch.where(pick, r_v, v)
        near = torch.where(pick, r_near, near)
    out = Trajectories(
        init_position=start,
        init_head_direction=hd0,
        position=pos,
        head_direction=hd,
        speed=v,
        velocity=move,
        near_wall=near,
        arena=float(arena),
        directed=directed,
    )
    if landmarks:
        out.cue_distance = cue_distances(pos)
        out.cues_present = (cue_draw < CUE_FRACTION).to(device)
    if reward:
        # The same float bounds as the walk inside the zone, so its positions count as inside.
        inside = ((pos >= z_lo[:, None]) & (pos <= z_hi[:, None])).all(dim=-1)
        out.reward = inside.to(dtype)
    return out
