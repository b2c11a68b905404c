"""A spatially factored readout of convolutional feature maps (Klindt et al. 2017 style).

Each target neuroid reads one spatial mask and one channel weighting of (C, H, W) feature
maps, trained jointly by full-batch gradient descent with torch (imported on first use).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from brainlike.analysis.mapping.blocks import _SMALL_X
from brainlike.analysis.mapping.estimator import _as_targets

_FACTORED_CHUNK = 2**24  # floats in the largest intermediate of one forward chunk


class FactoredReadout(RegressorMixin, BaseEstimator):
    """Spatially factored readout of convolutional features (Klindt et al. 2017 style).

    ``r_n = sum_{h,w} S_n[h,w] sum_c W[c,n] X[c,h,w] + b_n``  (spec: neural-evaluation.md §3):
    each target neuroid has one spatial mask ``S_n`` and one channel weighting ``W[:, n]``,
    trained jointly by full-batch gradient descent on the mean squared error plus optional
    penalties. Written with torch (imported on first use), float64 on the CPU.

    Inputs are ``X`` of shape (n, C, H, W), or flattened (n, C*H*W) in C, H, W order (PyTorch's
    ``flatten``) with ``feature_shape=(C, H, W)``.

    Parameters
    ----------
    feature_shape : tuple of 3 ints, optional
        (C, H, W) of flattened inputs.
    n_epochs : int, default 300
        Optimizer iterations (L-BFGS iterations, or Adam steps).
    lr : float, default 1.0
        Step size (L-BFGS scale; use ~0.01 for Adam).
    optimizer : {"lbfgs", "adam"}, default "lbfgs"
    spatial_l2, channel_l2 : float, default 0
        L2 penalties on S and on W (sum of squares, averaged over neuroids).
    smoothness : float, default 0
        Penalty on the squared discrete Laplacian of each S_n (edge-replicated).
    sparsity : float, default 0
        L1 penalty on S. Penalties on S alone can be dodged by shrinking S and growing W (the
        response only depends on their product): combine them with ``channel_l2``.
    seed : int, default 0
        Seeds the small random perturbation of the initial masks.
    tol : float, default 1e-12
        L-BFGS stops when the objective changes less than this.

    Attributes
    ----------
    spatial_ : ndarray (n_targets, H, W)
    channel_weights_ : ndarray (C, n_targets)
    bias_ : ndarray (n_targets,)
    loss_ : float
        Final training objective (mean squared error + penalties).
    mse_ : float
        Final training mean squared error.

    Notes
    -----
    One readout shared across time bins (a temporally fixed mapping) is this estimator fit on
    the (stimulus, bin) rows of the training stimuli jointly:
    :func:`brainlike.analysis.neural.temporal_predictivity` stacks the rows and passes
    flattened features, so use ``feature_shape`` there.
    """

    def __init__(
        self,
        feature_shape: tuple[int, int, int] | None = None,
        n_epochs: int = 300,
        lr: float = 1.0,
        optimizer: str = "lbfgs",
        spatial_l2: float = 0.0,
        channel_l2: float = 0.0,
        smoothness: float = 0.0,
        sparsity: float = 0.0,
        seed: int = 0,
        tol: float = 1e-12,
    ):
        self.feature_shape = feature_shape
        self.n_epochs = n_epochs
        self.lr = lr
        self.optimizer = optimizer
        self.spatial_l2 = spatial_l2
        self.channel_l2 = channel_l2
        self.smoothness = smoothness
        self.sparsity = sparsity
        self.seed = seed
        self.tol = tol

    def _as_maps(self, X: Any) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim == 2:
            if self.feature_shape is None:
                raise ValueError(
                    f"FactoredReadout needs feature maps (n, C, H, W); got 2-D X {X.shape}. "
                    f"Pass feature_shape=(C, H, W) for flattened features"
                )
            shape = tuple(int(v) for v in self.feature_shape)
            if len(shape) != 3 or math.prod(shape) != X.shape[1]:
                raise ValueError(
                    f"feature_shape={self.feature_shape} does not match {X.shape[1]} features "
                    f"per stimulus; it must be (C, H, W) with C*H*W = {X.shape[1]}"
                )
            X = X.reshape(len(X), *shape)
        if X.ndim != 4:
            raise ValueError(f"X must be (n, C, H, W) feature maps; got shape {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or inf; replace them before fitting a readout")
        return X

    def _forward(self, torch, X, S, W, b):
        """Responses (n, N) of maps X (n, C, H, W) for masks S (N, H, W), weights W (C, N)."""
        n, C, H, Wd = X.shape
        flat = X.reshape(n, C, H * Wd)
        if H * Wd <= C:  # contract channels first: intermediate (n, N, HW)
            mixed = torch.einsum("icl,cn->inl", flat, W)
            return (mixed * S.reshape(S.shape[0], -1)).sum(-1) + b
        pooled = torch.einsum("icl,nl->icn", flat, S.reshape(S.shape[0], -1))
        return (pooled * W).sum(1) + b

    def _penalty(self, torch, S, W):
        N = S.shape[0]
        total = S.new_zeros(())
        if self.spatial_l2:
            total = total + self.spatial_l2 * (S**2).sum() / N
        if self.channel_l2:
            total = total + self.channel_l2 * (W**2).sum() / N
        if self.sparsity:
            total = total + self.sparsity * S.abs().sum() / N
        if self.smoothness:
            lap = S.new_tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
            padded = torch.nn.functional.pad(S[:, None], (1, 1, 1, 1), mode="replicate")
            curv = torch.nn.functional.conv2d(padded, lap[None, None])
            total = total + self.smoothness * (curv**2).sum() / N
        return total

    def _chunks(self, X: np.ndarray, N: int) -> list[slice]:
        n, C, H, Wd = X.shape
        per = max(1, min(C, H * Wd) * N + C * H * Wd)
        step = max(1, _FACTORED_CHUNK // per)
        return [slice(s, min(n, s + step)) for s in range(0, n, step)]

    def fit(self, X: Any, Y: Any) -> FactoredReadout:
        """Fit masks, channel weights and biases on maps ``X`` and targets ``Y`` (n, q)."""
        import torch

        X = self._as_maps(X)
        Y, one_d = _as_targets(Y, X.shape[0])
        if self.optimizer not in ("lbfgs", "adam"):
            raise ValueError(f"optimizer must be 'lbfgs' or 'adam'; got {self.optimizer!r}")
        for name in ("spatial_l2", "channel_l2", "smoothness", "sparsity"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)}")
        n, C, H, Wd = X.shape
        N = Y.shape[1]
        self._predict_1d = one_d
        self.n_features_in_ = C * H * Wd
        # Features divided by their RMS so that the initial scales suit any input units.
        rms = float(np.sqrt(np.mean(np.square(X, dtype=np.float64)))) or 1.0
        Xt = torch.from_numpy(np.asarray(X, dtype=np.float64) / rms)
        Yt = torch.from_numpy(Y)
        # Small readouts run on one torch thread: tiny tensor ops gain nothing from threads,
        # and waiting threads crawl when other processes share the cores.
        previous = torch.get_num_threads()
        if n * C * H * Wd * N < _SMALL_X:
            torch.set_num_threads(1)
        try:
            self._train(torch, X, Xt, Yt, Y, rms)
        finally:
            torch.set_num_threads(previous)
        return self

    def _train(self, torch, X: np.ndarray, Xt, Yt, Y: np.ndarray, rms: float) -> None:
        """Full-batch optimisation of S, W and b; sets the fitted attributes."""
        n, C, H, Wd = X.shape
        N = Y.shape[1]
        gen = torch.Generator().manual_seed(int(self.seed))
        S0 = torch.full((N, H, Wd), 1.0 / (H * Wd), dtype=torch.float64)
        S0 += 0.01 / (H * Wd) * torch.randn(S0.shape, generator=gen, dtype=torch.float64)
        S = S0.requires_grad_()
        W = torch.zeros((C, N), dtype=torch.float64, requires_grad=True)
        b = torch.from_numpy(Y.mean(axis=0).copy()).requires_grad_()
        chunks = self._chunks(X, N)
        scale = 1.0 / (n * N)

        def objective(backward: bool) -> tuple[float, float]:
            """Mean squared error and full objective; gradients accumulated if asked."""
            mse = 0.0
            for sl in chunks:  # the full batch, in chunks that bound the intermediate size
                err = self._forward(torch, Xt[sl], S, W, b) - Yt[sl]
                part = scale * (err**2).sum()
                if backward:
                    part.backward()
                mse += part.item()
            pen = self._penalty(torch, S, W)
            if backward and pen.requires_grad:
                pen.backward()
            return mse, mse + pen.item()

        def closure():
            opt.zero_grad()
            return torch.tensor(objective(True)[1], dtype=torch.float64)

        if self.optimizer == "lbfgs":
            opt = torch.optim.LBFGS(
                [S, W, b],
                lr=self.lr,
                max_iter=int(self.n_epochs),
                tolerance_grad=1e-12,
                tolerance_change=self.tol,
                history_size=50,
                line_search_fn="strong_wolfe",
            )
            opt.step(closure)
            self.n_iter_ = int(opt.state[opt._params[0]].get("n_iter", 0))
        else:
            opt = torch.optim.Adam([S, W, b], lr=self.lr)
            for _ in range(int(self.n_epochs)):
                closure()
                opt.step()
            self.n_iter_ = int(self.n_epochs)
        with torch.no_grad():
            mse, final = objective(False)  # at the returned parameters
        self.loss_, self.mse_ = final, mse
        self.spatial_ = S.detach().numpy().copy()
        self.channel_weights_ = W.detach().numpy().copy() / rms
        self.bias_ = b.detach().numpy().copy()

    def predict(self, X: Any) -> np.ndarray:
        """Predicted responses, shape (n, q) (or (n,) if fit on 1-D targets)."""
        check_is_fitted(self, "spatial_")
        X = self._as_maps(X)
        n, C, H, Wd = X.shape
        if (H, Wd) != self.spatial_.shape[1:] or C != self.channel_weights_.shape[0]:
            raise ValueError(
                f"X maps are {(C, H, Wd)} but the readout was fit on "
                f"{(self.channel_weights_.shape[0], *self.spatial_.shape[1:])}"
            )
        N = self.spatial_.shape[0]
        S2 = self.spatial_.reshape(N, -1)
        out = np.empty((n, N))
        for sl in self._chunks(X, N):
            flat = np.asarray(X[sl], dtype=np.float64).reshape(-1, C, H * Wd)
            if H * Wd <= C:
                mixed = np.einsum("icl,cn->inl", flat, self.channel_weights_)
                out[sl] = (mixed * S2).sum(-1)
            else:
                out[sl] = ((flat @ S2.T) * self.channel_weights_).sum(1)
        out += self.bias_
        return out[:, 0] if self._predict_1d else out
