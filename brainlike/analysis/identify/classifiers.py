"""The rule identifiers: a linear SVM (optional PCA), a random forest, a 1-D conv net over time.

spec: learning-rules.md §2. Each is a scikit-learn estimator (the conv net too: a small torch
model behind ``fit`` / ``predict``), made with its hyperparameter grid by
:func:`make_classifier` and tuned by stratified k-fold cross-validation inside each train/test
split (:func:`fit_and_score`). The input is a :class:`~brainlike.analysis.identify.features.Design`
matrix: ``S`` statistic trajectories of ``T`` checkpoints (statistic-major), then the one-hot
layer position (3 columns).

- ``svm``: standardise, then PCA of the trajectories (not of the position) to 10 or 40
  components or none, chosen by the cross-validation as in the source, then a linear SVM
  (``SVC(kernel="linear")``, one-vs-one; the source's ``LinearSVC`` reaches the same
  accuracies here but needs seconds per fit to converge where libsvm needs milliseconds);
  C in 10^-2..10^1.
- ``forest``: ``RandomForestClassifier``; trees and features per split chosen by the
  cross-validation.
- ``conv1d``: each statistic's trajectory is a channel over time (the position as three
  constant channels); one learned 1-D convolution (kernel a fraction of ``T``), ReLU, optional
  max or average pooling over time, then a linear read-out; Adam, full batch, L2 penalty.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

__all__ = [
    "CLASSIFIERS",
    "Conv1DClassifier",
    "check_split_counts",
    "fit_and_score",
    "make_classifier",
]

CLASSIFIERS = ("svm", "forest", "conv1d")
N_POSITION = 3


class _SeriesPCA(BaseEstimator):
    """PCA of all columns but the last ``keep`` (the position), which pass through."""

    def __init__(self, n_components: int = 20, keep: int = N_POSITION, seed: int = 0) -> None:
        self.n_components, self.keep, self.seed = n_components, keep, seed

    def fit(self, x: np.ndarray, y: Any = None) -> _SeriesPCA:
        from sklearn.decomposition import PCA

        series = x[:, : -self.keep]
        k = max(1, min(self.n_components, series.shape[0] - 1, series.shape[1]))
        self.pca_ = PCA(k, random_state=self.seed).fit(series)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([self.pca_.transform(x[:, : -self.keep]), x[:, -self.keep :]], 1)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Torch on one thread (this net's operations are tiny, and a second thread only waits:
    ~50 x slower on a busy machine), with denormal floats flushed to zero on it (Adam's second
    moments of rarely active units turn denormal in float32 and slow every step ~10 x); both
    set back after (flushing to torch's default, off)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    flushing = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if flushing:
            torch.set_flush_denormal(False)
        torch.set_num_threads(before)


class Conv1DClassifier(ClassifierMixin, BaseEstimator):
    """A 1-D convolution over time of the statistic trajectories (see the module docstring).

    Parameters
    ----------
    n_series, n_times : statistics S and checkpoints T of the design (X has S * T + 3 columns).
    filters : output channels of the convolution.
    kernel_fraction : kernel length as a fraction of T (at least 1).
    pool : "none", "max" or "avg" pooling over time before the read-out.
    epochs, lr, weight_decay : Adam, full batch.
    seed : seeds the weights.
    """

    def __init__(
        self,
        n_series: int = 1,
        n_times: int = 1,
        filters: int = 16,
        kernel_fraction: float = 0.25,
        pool: str = "none",
        epochs: int = 150,
        lr: float = 1e-2,
        weight_decay: float = 1e-4,
        seed: int = 0,
    ) -> None:
        self.n_series, self.n_times = n_series, n_times
        self.filters, self.kernel_fraction, self.pool = filters, kernel_fraction, pool
        self.epochs, self.lr, self.weight_decay, self.seed = epochs, lr, weight_decay, seed

    def _tensor(self, x: np.ndarray) -> Any:
        import torch

        z = (x - self.mean_) / self.scale_
        series = z[:, : self.n_series * self.n_times].reshape(-1, self.n_series, self.n_times)
        position = np.repeat(z[:, -N_POSITION:, None], self.n_times, axis=2)
        return torch.as_tensor(np.concatenate([series, position], 1), dtype=torch.float32)

    def _network(self, n_classes: int) -> Any:
        from torch import nn

        k = max(1, min(self.n_times, round(self.kernel_fraction * self.n_times)))
        steps = self.n_times - k + 1
        layers: list[Any] = [nn.Conv1d(self.n_series + N_POSITION, self.filters, k), nn.ReLU()]
        if self.pool == "max":
            layers.append(nn.AdaptiveMaxPool1d(1))
            steps = 1
        elif self.pool == "avg":
            layers.append(nn.AdaptiveAvgPool1d(1))
            steps = 1
        elif self.pool != "none":
            raise ValueError(f"pool {self.pool!r}: choose none, max or avg")
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(self.filters * steps, n_classes))

    def fit(self, x: np.ndarray, y: np.ndarray) -> Conv1DClassifier:

        if x.shape[1] != self.n_series * self.n_times + N_POSITION:
            raise ValueError(
                f"conv1d: X has {x.shape[1]} columns, but {self.n_series} statistics x "
                f"{self.n_times} checkpoints + {N_POSITION} position columns were declared"
            )
        self.classes_, yi = np.unique(y, return_inverse=True)
        self.mean_ = x.mean(axis=0)
        self.scale_ = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        with _one_thread():
            self._train(x, yi)
        return self

    def _train(self, x: np.ndarray, yi: np.ndarray) -> None:
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.net_ = self._network(len(self.classes_))
            opt = torch.optim.Adam(
                self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay
            )
            xt, yt = self._tensor(x), torch.as_tensor(yi)
            for _ in range(self.epochs):
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(self.net_(xt), yt)
                loss.backward()
                opt.step()

    def predict(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad(), _one_thread():
            return self.classes_[self.net_(self._tensor(x)).argmax(1).numpy()]


def make_classifier(name: str, n_series: int, n_times: int, seed: int = 0) -> tuple[Any, dict]:
    """The estimator ``name`` and its hyperparameter grid (for ``GridSearchCV``)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if name == "svm":
        pipe = Pipeline(
            [
                ("scale", StandardScaler()),
                ("reduce", "passthrough"),
                ("svm", SVC(kernel="linear", C=1.0, max_iter=200_000)),
            ]
        )
        grid = {
            "reduce": ["passthrough", _SeriesPCA(10, seed=seed), _SeriesPCA(40, seed=seed)],
            "svm__C": [0.01, 0.1, 1.0, 10.0],
        }
        return pipe, grid
    if name == "forest":
        forest = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)
        return forest, {"n_estimators": [100, 200], "max_features": ["sqrt", "log2"]}
    if name == "conv1d":
        net = Conv1DClassifier(n_series=n_series, n_times=n_times, seed=seed)
        return net, {"kernel_fraction": [0.2, 0.5], "pool": ["none", "max"]}
    raise ValueError(f"classifier {name!r}: choose from {', '.join(CLASSIFIERS)}")


def check_split_counts(y: np.ndarray, classes: list[str], test_size: float, cv: int) -> None:
    """Refuse, in one line, settings that leave a class empty (or too small for the
    cross-validation) in a split."""
    counts = np.bincount(y, minlength=len(classes))
    need = max(2, math.ceil(max(cv, 1) / (1 - test_size)) + 1) if cv > 1 else 2
    short = [(classes[i], int(c)) for i, c in enumerate(counts) if c < need]
    if short:
        listed = ", ".join(f"{c} has {n}" for c, n in short)
        raise ValueError(
            f"a class would be empty or too small in a split: {listed} example(s); a "
            f"{round((1 - test_size) * 100)}/{round(test_size * 100)} split with {cv}-fold "
            f"cross-validation inside needs at least {need} per class (lower --cv or train "
            "more runs)"
        )


def fit_and_score(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    n_series: int,
    n_times: int,
    *,
    cv: int = 5,
    seed: int = 0,
    params: dict[str, Any] | None = None,
) -> tuple[np.ndarray, dict[str, Any], Any]:
    """Fit classifier ``name`` on the training part and predict the test part.

    With ``cv > 1`` the hyperparameters are chosen by stratified ``cv``-fold cross-validation
    on the training part (then refitted on all of it); with ``cv <= 1`` the estimator is used
    with ``params`` (default: its defaults: C 1 without PCA, 100 trees with sqrt features per
    split, a kernel of a quarter of the trajectory without pooling).

    Returns
    -------
    (predictions, chosen parameters, fitted estimator)
    """
    from sklearn.exceptions import ConvergenceWarning

    estimator, grid = make_classifier(name, n_series, n_times, seed)
    with warnings.catch_warnings():
        # a setting that stops at its iteration limit simply scores lower in the CV
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _fit_predict(estimator, grid, x_train, y_train, x_test, cv, seed, params)


def _fit_predict(estimator, grid, x_train, y_train, x_test, cv, seed, params):
    """The body of :func:`fit_and_score` (warnings handled there)."""
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    if cv > 1:
        counts = np.bincount(y_train)
        folds = int(min(cv, counts[counts > 0].min()))
        if folds < 2:
            raise ValueError(
                f"a class has {int(counts[counts > 0].min())} training example(s); "
                f"{cv}-fold cross-validation needs at least 2 (lower --cv or train more runs)"
            )
        search = GridSearchCV(
            estimator, grid, cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
            n_jobs=1, refit=True,
        )  # fmt: skip
        search.fit(x_train, y_train)
        fitted, chosen = search.best_estimator_, dict(search.best_params_)
    else:
        chosen = dict(params or {})
        fitted = clone(estimator).set_params(**chosen).fit(x_train, y_train)
    shown = {
        k: (type(v).__name__ if isinstance(v, BaseEstimator) else v) for k, v in chosen.items()
    }
    if "reduce" in chosen and isinstance(chosen["reduce"], _SeriesPCA):
        shown["reduce"] = f"pca{chosen['reduce'].n_components}"
    return fitted.predict(x_test), shown, fitted
