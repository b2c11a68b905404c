"""Stimuli as the extraction reads them: batches of a numpy array, a tensor or a dataset of
images, their content hash (part of the cache key), and the preprocessing applied per batch
(resize, per-channel normalisation).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from brainlike.analysis.activations.cache import _json_default

_PREPROCESSING_APPLIED = ("size", "mean", "std")


# --------------------------------------------------------------------------------------------
# stimuli
# --------------------------------------------------------------------------------------------


class _Stimuli:
    """Uniform batch access and content hashing for arrays, tensors and datasets."""

    def __init__(self, stimuli: Any) -> None:
        self.array: np.ndarray | None = None
        self.items: Any = None
        if isinstance(stimuli, Tensor):
            t = stimuli.detach().cpu()
            stimuli = (t.float() if t.dtype == torch.bfloat16 else t).numpy()
        if isinstance(stimuli, np.ndarray):
            if stimuli.ndim < 2:
                raise ValueError(
                    f"stimuli must have a leading stimulus axis, e.g. (N, C, H, W); got shape "
                    f"{stimuli.shape}"
                )
            _check_float(stimuli.dtype)
            self.array, self.n = stimuli, len(stimuli)
        elif hasattr(stimuli, "__len__") and hasattr(stimuli, "__getitem__"):
            self.items, self.n = stimuli, len(stimuli)
        else:
            raise TypeError(
                "stimuli must be a numpy array or torch tensor (N, C, H, W), or a dataset / "
                f"sequence of images (items or (image, label) tuples); got {type(stimuli).__name__}"
            )
        if self.n == 0:
            raise ValueError("no stimuli: the stimulus set is empty")

    def _item(self, i: int) -> np.ndarray:
        item = self.items[i]
        if isinstance(item, (tuple, list)):
            item = item[0]
        if isinstance(item, Tensor):
            item = item.detach().cpu()
            item = item.float() if item.dtype == torch.bfloat16 else item
        item = np.asarray(item)
        _check_float(item.dtype)
        return item

    def batch(self, start: int, stop: int) -> np.ndarray:
        if self.array is not None:
            batch = np.ascontiguousarray(self.array[start:stop])
            return batch if batch.flags.writeable else batch.copy()  # torch wants writable
        items = [self._item(i) for i in range(start, stop)]
        shapes = {x.shape for x in items}
        if len(shapes) > 1:
            raise ValueError(
                f"stimuli {start}-{stop - 1} have different shapes {sorted(shapes)}; resize them "
                "to one size first"
            )
        return np.stack(items)

    def digest(self) -> str:
        """sha256 of every stimulus's shape, dtype and bytes, in order."""
        h = hashlib.sha256()
        if self.array is not None:
            h.update(f"array{self.array.shape}{self.array.dtype.str}".encode())
            step = max(1, (32 * 2**20) // max(1, self.array[:1].nbytes))
            for start in range(0, self.n, step):
                h.update(memoryview(np.ascontiguousarray(self.array[start : start + step])))
        else:
            for i in range(self.n):
                x = np.ascontiguousarray(self._item(i))
                h.update(f"item{x.shape}{x.dtype.str}".encode())
                h.update(memoryview(x).cast("B"))
        return h.hexdigest()


def _check_float(dtype: np.dtype) -> None:
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(
            f"stimuli must be floating point (e.g. images in [0, 1]); got dtype {dtype}. Convert "
            "uint8 images with images.astype(np.float32) / 255, or use StimulusSet.load_images"
        )


def _check_preprocessing(preprocessing: Mapping[str, Any] | None) -> dict[str, Any]:
    pre = dict(preprocessing or {})
    try:
        json.dumps(pre, default=_json_default)
    except TypeError as err:
        raise TypeError(f"preprocessing must be JSON-serialisable ({err})") from None
    if "size" in pre:
        size = pre["size"]
        size = (size, size) if isinstance(size, int) else tuple(size)
        if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
            raise ValueError(f"preprocessing['size'] must be a positive int or (h, w); got {size}")
    if ("mean" in pre) != ("std" in pre):
        raise ValueError("preprocessing needs both 'mean' and 'std' (per channel) or neither")
    if "std" in pre and np.any(np.asarray(pre["std"], dtype=float) <= 0):
        raise ValueError(f"preprocessing['std'] must be positive; got {pre['std']}")
    return pre


def _apply_preprocessing(x: Tensor, pre: Mapping[str, Any]) -> Tensor:
    if "size" in pre:
        size = pre["size"]
        size = (size, size) if isinstance(size, int) else tuple(size)
        if x.ndim != 4:
            raise ValueError(f"preprocessing['size'] needs (N, C, H, W) stimuli; got {x.shape}")
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    if "mean" in pre:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        mean = torch.as_tensor(pre["mean"], dtype=x.dtype, device=x.device).reshape(shape)
        std = torch.as_tensor(pre["std"], dtype=x.dtype, device=x.device).reshape(shape)
        if mean.shape[1] not in (1, x.shape[1]):
            raise ValueError(
                f"preprocessing mean/std have {mean.shape[1]} values for {x.shape[1]} channels"
            )
        x = (x - mean) / std
    return x
