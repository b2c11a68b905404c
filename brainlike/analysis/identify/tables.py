"""The observables table of a run: tidy rows that pandas and xarray read.

One row per recording setting x layer x checkpoint x observable x function x statistic
(:func:`observables_table`), with the run's metadata repeated on every row so that tables of
many runs simply concatenate. Columns:

- run: ``run``, ``label`` (the class an identifier learns), ``architecture``, ``model_kind``,
  ``rule``, ``optimizer``, ``lr``, ``momentum``, ``batch_size``, ``seed``, ``dataset``,
  ``epochs``, ``steps_per_epoch``;
- layer: ``layer``, ``layer_index`` (order in the forward pass), ``layer_kind``, ``position``
  (early / middle / deep), ``readout``, ``units``, ``inputs``, ``synapses``;
- recording: ``fraction``, ``noise``, ``recording_seed``;
- time: ``checkpoint`` (0..K-1), ``step``, ``epoch``;
- value: ``observable``, ``transform``, ``statistic``, ``kept`` (False for the statistics left
  out of identification by default), ``value``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brainlike.analysis.identify.observables import KEPT_STATISTICS, statistic_keys

__all__ = [
    "TABLE_NAME",
    "observables_dataset",
    "observables_table",
    "read_observables",
    "write_observables",
]

TABLE_NAME = "observables.csv"
#: the columns that identify a value (with ``run``)
KEY_COLUMNS = (
    "fraction", "noise", "recording_seed", "layer", "checkpoint", "observable", "transform",
    "statistic",
)  # fmt: skip


def observables_table(
    values: np.ndarray,
    steps: Sequence[int],
    epochs: Sequence[float],
    layers: Sequence[dict[str, Any]],
    recordings: Sequence[dict[str, Any]],
    metadata: dict[str, Any],
) -> Any:
    """The tidy table of one run's measurements.

    Parameters
    ----------
    values : ``(K, R, L, 45)``: checkpoints, recording settings, layers, statistics (in
        :func:`~brainlike.analysis.identify.observables.statistic_keys` order).
    steps, epochs : step and epoch (fractional) of each checkpoint.
    layers : each layer's description (``LayerInfo.as_dict()``).
    recordings : each recording's ``fraction``, ``noise``, ``seed``.
    metadata : the run's columns (``run``, ``label``, ...).

    Returns
    -------
    pandas.DataFrame
        ``K * R * L * 45`` rows (see the module docstring for the columns).
    """
    import pandas as pd

    k, r, n_layers, s = values.shape
    keys = statistic_keys()
    if s != len(keys) or len(layers) != n_layers or len(recordings) != r or len(steps) != k:
        raise ValueError(
            f"observables of shape {values.shape} do not match {len(steps)} checkpoints, "
            f"{len(recordings)} recordings, {len(layers)} layers and {len(keys)} statistics"
        )
    grid = np.indices((k, r, n_layers, s)).reshape(4, -1)
    ck, rec, lay, stat = grid
    cols: dict[str, Any] = {key: [v] * len(ck) for key, v in metadata.items()}
    layer_cols = {
        "layer": "name", "layer_index": "index", "layer_kind": "kind", "position": "position",
        "readout": "readout", "units": "units", "inputs": "inputs", "synapses": "synapses",
    }  # fmt: skip
    for col, key in layer_cols.items():
        cols[col] = np.asarray([d[key] for d in layers])[lay]
    for col, key in (("fraction", "fraction"), ("noise", "noise"), ("recording_seed", "seed")):
        cols[col] = np.asarray([d[key] for d in recordings])[rec]
    cols["checkpoint"] = ck
    cols["step"] = np.asarray(steps, dtype=np.int64)[ck]
    cols["epoch"] = np.asarray(epochs, dtype=np.float64)[ck]
    for i, col in enumerate(("observable", "transform", "statistic")):
        cols[col] = np.asarray([key[i] for key in keys])[stat]
    cols["kept"] = np.asarray([key[2] in KEPT_STATISTICS for key in keys])[stat]
    cols["value"] = values.reshape(-1)
    return pd.DataFrame(cols)


def write_observables(table: Any, run_dir: str | Path, netcdf: bool = False) -> list[Path]:
    """Write ``observables.csv`` (and ``observables.nc``) into ``run_dir`` atomically."""
    from brainlike.train.checkpoint import atomic_write, atomic_write_text

    run_dir = Path(run_dir)
    paths = [
        atomic_write_text(run_dir / TABLE_NAME, table.to_csv(index=False, float_format="%.9g"))
    ]
    if netcdf:
        ds = observables_dataset(table)
        paths.append(atomic_write(run_dir / "observables.nc", lambda fh: fh.write(ds.to_netcdf())))
    return paths


def read_observables(path: str | Path) -> Any:
    """An observables table (a run folder or its ``observables.csv``) as a pandas DataFrame."""
    import pandas as pd

    p = Path(path)
    if p.is_dir():
        p = p / TABLE_NAME
    if not p.is_file():
        raise FileNotFoundError(
            f"{p} does not exist; train the run with observe.enabled: true to record it"
        )
    return pd.read_csv(p, keep_default_na=True)


def observables_dataset(table: Any) -> Any:
    """The table as an ``xarray.Dataset``: ``value`` over (recording, layer, checkpoint,
    observable, transform, statistic), NaN where a combination is not measured (the activity
    change has the mean only); the run's metadata as attributes."""
    import xarray as xr

    t = table.copy()
    t["recording"] = [
        f"f{f:g}-n{n:g}-s{s}"
        for f, n, s in zip(t["fraction"], t["noise"], t["recording_seed"], strict=True)
    ]
    dims = ["recording", "layer", "checkpoint", "observable", "transform", "statistic"]
    # from_series, as pandas' to_xarray does: pandas 2 refuses to_xarray with xarray < 2022.12
    arr = xr.DataArray.from_series(t.set_index(dims)["value"])
    ds = xr.Dataset({"value": arr})
    per_ck = t.drop_duplicates("checkpoint").set_index("checkpoint")
    ds = ds.assign_coords(
        step=("checkpoint", per_ck.loc[ds.checkpoint.values, "step"].to_numpy()),
        epoch=("checkpoint", per_ck.loc[ds.checkpoint.values, "epoch"].to_numpy()),
    )
    per_layer = t.drop_duplicates("layer").set_index("layer")
    for col in ("layer_index", "position", "layer_kind", "units", "inputs", "synapses"):
        ds = ds.assign_coords({col: ("layer", per_layer.loc[ds.layer.values, col].to_numpy())})
    for col in ("run", "label", "architecture", "rule", "optimizer", "batch_size", "seed"):
        if col in t:
            v = t[col].iloc[0]
            ds.attrs[col] = v.item() if hasattr(v, "item") else v
    return ds
