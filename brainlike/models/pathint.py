"""Path-integrating recurrent networks: self-motion in, place-cell code out.

A network of the entorhinal path-integration task (spec: mouse-and-entorhinal.md §2,
"Networks") sees, at each step of a random walk, only the animal's displacement (plus optional
landmark and reward inputs) and must report where the animal is as a place-cell population
code. Its recurrent state starts from a linear map of the place-cell code of the start
position; a recurrent core integrates the self-motion; a ReLU "G" layer reads the core (the
layer compared with medial entorhinal recordings, where grid-, border- and band-like units
appear); a linear decoder gives the place-cell logits (or 2 Cartesian coordinates).

Cores: vanilla RNN (ReLU, tanh, sigmoid or linear), UGRNN, GRU and LSTM. Every core is built
from ``nn.Linear`` layers (``input``: the step's input to the gates, ``recurrent``: the state to
the gates), never ``nn.RNN``/``nn.GRU``/``nn.LSTM``, so the learning rules of
:mod:`brainlike.rules` (which convert Linear layers) reach every weight.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Literal

import torch
from torch import Tensor, nn

__all__ = ["CORES", "PathIntegrator", "RecurrentCore"]

CORES = ("rnn", "ugrnn", "gru", "lstm")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
#: gate blocks of each core: how many U-wide pre-activations ``input`` and ``recurrent`` give
_GATES = {"rnn": 1, "ugrnn": 2, "gru": 3, "lstm": 4}
_ACT = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda x: x}


class RecurrentCore(nn.Module):
    """One recurrent cell of ``units`` units, as two Linear layers (input and recurrent).

    Parameters
    ----------
    inputs : width of the per-step input.
    units : number of recurrent units.
    core : ``"rnn"``, ``"ugrnn"``, ``"gru"`` or ``"lstm"``.
    activation : the vanilla RNN's nonlinearity (``"relu"``, ``"tanh"``, ``"sigmoid"``,
        ``"linear"``); ignored by the gated cores.
    """

    def __init__(self, inputs: int, units: int, core: str = "ugrnn", activation: str = "relu"):
        super().__init__()
        if core not in CORES:
            raise ValueError(f"core is {core!r}; choose one of {', '.join(CORES)}")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation is {activation!r}; choose one of {', '.join(ACTIVATIONS)}"
            )
        self.core, self.activation, self.units = core, activation, units
        k = _GATES[core]
        self.input = nn.Linear(inputs, k * units)
        # the GRU's candidate needs its own recurrent bias (inside the reset gate's product)
        self.recurrent = nn.Linear(units, k * units, bias=core == "gru")

    def forward(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """One step: ``x`` (B, inputs), ``state`` (h,) or (h, c) for the LSTM; returns the new
        state (its first entry is the cell's output)."""
        h = state[0]
        a, r = self.input(x), self.recurrent(h)
        if self.core == "rnn":
            return (_ACT[self.activation](a + r),)
        if self.core == "ugrnn":
            # spec: mouse-and-entorhinal.md §2, UGRNN: s_t = σ(g+1)⊙s_{t-1} + (1-σ(g+1))⊙ReLU(c),
            # g and c linear in [x_t, s_{t-1}]
            g, c = (a + r).chunk(2, dim=-1)
            u = torch.sigmoid(g + 1.0)
            return (u * h + (1.0 - u) * torch.relu(c),)
        if self.core == "gru":
            a_r, a_z, a_n = a.chunk(3, dim=-1)
            r_r, r_z, r_n = r.chunk(3, dim=-1)
            reset = torch.sigmoid(a_r + r_r)
            update = torch.sigmoid(a_z + r_z)
            candidate = torch.tanh(a_n + reset * r_n)
            return ((1.0 - update) * candidate + update * h,)
        i, f, g, o = (a + r).chunk(4, dim=-1)
        c = torch.sigmoid(f) * state[1] + torch.sigmoid(i) * torch.tanh(g)
        return (torch.sigmoid(o) * torch.tanh(c), c)


class PathIntegrator(nn.Module):
    """A path-integrating network (spec: mouse-and-entorhinal.md §2, "Networks").

    Parameters
    ----------
    inputs : width of the per-step input (2 for the displacement alone).
    out_features : outputs per step: place-cell logits, or 2 for Cartesian targets.
    code : width of the starting place-cell code that sets the initial state.
    core : ``"ugrnn"`` (the best core of the source), ``"rnn"``, ``"gru"`` or ``"lstm"``.
    activation : the vanilla RNN's nonlinearity.
    units : recurrent units (4096 in the source).
    g_units : units of the ReLU "G" layer (4096 in the source).

    Modules: ``init`` (and ``init_c`` for the LSTM's cell state), ``cell``
    (:class:`RecurrentCore`), ``g``, ``decoder``.
    """

    def __init__(
        self,
        inputs: int = 2,
        out_features: int = 512,
        code: int = 512,
        core: Literal["rnn", "ugrnn", "gru", "lstm"] = "ugrnn",
        activation: Literal["relu", "tanh", "sigmoid", "linear"] = "relu",
        units: int = 4096,
        g_units: int = 4096,
    ) -> None:
        super().__init__()
        for name, v in (("inputs", inputs), ("out_features", out_features), ("code", code),
                        ("units", units), ("g_units", g_units)):  # fmt: skip
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} is {v!r}; it must be a positive integer")
        # spec §2: the initial state is a linear map of the starting place-cell code
        self.init = nn.Linear(code, units, bias=False)
        self.init_c = nn.Linear(code, units, bias=False) if core == "lstm" else None
        self.cell = RecurrentCore(inputs, units, core, activation)
        self.g = nn.Linear(units, g_units)
        self.decoder = nn.Linear(g_units, out_features)
        self._config = {
            "inputs": inputs,
            "out_features": out_features,
            "code": code,
            "core": core,
            "activation": activation,
            "units": units,
            "g_units": g_units,
        }
        self._silenced: dict[str, Tensor] = {}

    # -- the contract of the model zoo ----------------------------------------------------------
    @property
    def in_channels(self) -> int:
        """Width of the per-step input (the zoo's "channels in")."""
        return self._config["inputs"]

    @property
    def out_features(self) -> int:
        return self._config["out_features"]

    @property
    def input_size(self) -> int:
        """Width of the starting code (the zoo's third model dimension)."""
        return self._config["code"]

    def describe(self) -> dict:
        """Constructor arguments, tagged ``kind: pathint`` (rebuilt by the zoo)."""
        return {"kind": "pathint", **self._config}

    # -- running ---------------------------------------------------------------------------------
    def initial_state(self, init_code: Tensor) -> tuple[Tensor, ...]:
        """The core's state before the first step, from the (B, code) starting code."""
        h = self.init(init_code)
        return (h, self.init_c(init_code)) if self.init_c is not None else (h,)

    def run(self, inputs: Tensor, init_code: Tensor) -> dict[str, Tensor]:
        """Run a batch of sequences and return every layer's activity.

        Parameters
        ----------
        inputs : (B, T, inputs) per-step inputs.
        init_code : (B, code) the place-cell code of each start position.

        Returns
        -------
        dict with ``"core"`` (B, T, units), ``"g"`` (B, T, g_units) and ``"logits"``
        (B, T, out_features); silenced units (:meth:`silence`) read 0 at every step.
        """
        if inputs.ndim != 3 or inputs.shape[-1] != self.in_channels:
            raise ValueError(
                f"inputs have shape {tuple(inputs.shape)}; expected (batch, steps, "
                f"{self.in_channels})"
            )
        if init_code.shape != (inputs.shape[0], self.input_size):
            raise ValueError(
                f"init_code has shape {tuple(init_code.shape)}; expected "
                f"({inputs.shape[0]}, {self.input_size})"
            )
        keep_core = self._silenced.get("core")
        state = self.initial_state(init_code)
        outs = []
        for t in range(inputs.shape[1]):
            state = self.cell(inputs[:, t], state)
            if keep_core is not None:  # a silenced unit feeds nothing back either
                state = (state[0] * keep_core, *state[1:])
            outs.append(state[0])
        core = torch.stack(outs, dim=1)
        g = torch.relu(self.g(core))
        if "g" in self._silenced:
            g = g * self._silenced["g"]
        return {"core": core, "g": g, "logits": self.decoder(g)}

    def forward(self, inputs: Tensor, init_code: Tensor) -> Tensor:
        """(B, T, out_features) logits of ``inputs`` (B, T, D) from ``init_code`` (B, code)."""
        return self.run(inputs, init_code)["logits"]

    def recurrent_weights(self) -> list[Tensor]:
        """The state-to-state weights (what the spec's L2 term acts on)."""
        return [self.cell.recurrent.weight]

    @contextmanager
    def silence(self, units: Mapping[str, Sequence[int]]) -> Iterator[None]:
        """Within the block, the named units output 0 at every step (ablations, spec §2).

        Parameters
        ----------
        units : layer (``"core"`` or ``"g"``) -> indices of the units to silence.
        """
        sizes = {"core": self._config["units"], "g": self._config["g_units"]}
        masks = {}
        for layer, idx in units.items():
            if layer not in sizes:
                raise ValueError(f"cannot silence layer {layer!r}; choose 'core' or 'g'")
            idx = [int(i) for i in idx]
            bad = [i for i in idx if not 0 <= i < sizes[layer]]
            if bad:
                raise ValueError(
                    f"units {bad[:5]} of layer {layer!r} do not exist (it has {sizes[layer]})"
                )
            mask = torch.ones(sizes[layer], device=self.g.weight.device, dtype=self.g.weight.dtype)
            mask[idx] = 0.0
            masks[layer] = mask
        before = self._silenced
        self._silenced = {**before, **masks}
        try:
            yield
        finally:
            self._silenced = before
