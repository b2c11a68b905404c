"""Self-supervised tasks of the mouse visual cortex experiments (spec mouse-and-entorhinal.md §1).

Each task trains a backbone (built without a readout, so it returns its embedding) through
heads that live in the trained module (:class:`~brainlike.models.heads.HeadedModel`):
contrastive (``instance``, ``simclr``, ``moco``), non-contrastive (``simsiam``,
``barlow_twins``, ``vicreg``) and pretext (``rotnet``, ``autoencoder``, ``depth``). The losses
are in :mod:`brainlike.objectives.selfsupervised`, the views in :mod:`brainlike.data.views`.

Held-out metrics: the loss on the test set (views drawn by a fixed generator; the task's
state untouched) and, where the data set has class labels, ``knn_acc``: the top-1 accuracy
of a k-nearest-neighbour vote (cosine similarity, votes weighted by exp(s / 0.07), as in Wu et
al. 2018) of each test embedding among the training embeddings, the headline number that
self-supervised papers report.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from brainlike.config.selfsupervised import SSL_TASKS
from brainlike.data.views import ViewAugmenter
from brainlike.models.heads import EMBEDDING_KINDS, EMBEDDING_MODELS, HeadedModel, mlp_spec
from brainlike.objectives import selfsupervised as L
from brainlike.registry import TASKS
from brainlike.train.tasks.base import StepOutput, Task
from brainlike.train.tasks.images import ImageClassification, preprocessing_of

__all__ = ["EmbeddingTask", "knn_accuracy"]

#: the most training images whose embeddings the kNN accuracy compares against
KNN_TRAIN_MAX = 20_000


def knn_accuracy(
    train_emb: Tensor,
    train_labels: Tensor,
    test_emb: Tensor,
    test_labels: Tensor,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
) -> float:
    """Top-1 accuracy of a weighted k-nearest-neighbour vote on L2-normalised embeddings.

    Each test embedding's k most cosine-similar training embeddings vote for their class with
    weight exp(similarity / temperature); the class with the largest vote is the prediction.
    """
    num_classes = num_classes or int(train_labels.max()) + 1
    bank = F.normalize(train_emb, dim=1)
    k = min(k, bank.shape[0])
    correct = 0
    for start in range(0, test_emb.shape[0], 512):
        q = F.normalize(test_emb[start : start + 512], dim=1)
        sim, nn_idx = (q @ bank.T).topk(k, dim=1)
        votes = torch.zeros(q.shape[0], num_classes, dtype=sim.dtype, device=sim.device)
        votes.scatter_add_(1, train_labels[nn_idx], torch.exp(sim / temperature))
        correct += int((votes.argmax(1) == test_labels[start : start + 512]).sum())
    return correct / max(test_emb.shape[0], 1)


class _Indexed(torch.utils.data.Dataset):
    """(image, label, index) of a labelled data set: the memory bank needs the index."""

    def __init__(self, base: torch.utils.data.Dataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[Any, Any, int]:
        item = self.base[i]
        return item[0], item[-1], i


class EmbeddingTask(Task):
    """What every self-supervised task shares: the model contract, the data stream, the views,
    the held-out loss and kNN accuracy. Subclasses give :meth:`head_specs` and :meth:`loss`."""

    #: the heads that :meth:`loss` runs after the backbone, in order
    chain: tuple[str, ...] = ()
    single_process_reason = (
        "its loss, BatchNorm statistics, memory bank or queue see the whole batch, which no "
        "process of several would"
    )

    def __init__(self, cfg: Any, bundle: Any) -> None:
        super().__init__(cfg)
        if cfg.model.kind not in EMBEDDING_KINDS or getattr(cfg.model, "vone", None) is not None:
            raise ValueError(
                f"objective.task {cfg.objective.task!r} needs a model that gives an embedding; "
                f"model.kind {cfg.model.kind!r} does not. Use {EMBEDDING_MODELS}"
            )
        self.bundle = bundle
        self.ssl = cfg.objective.ssl
        self.task_name = cfg.objective.task
        self.has_labels = bundle.targets_kind == "class"
        self.headline = "knn_acc" if self.has_labels else "loss"
        self.views = ViewAugmenter(self.ssl.views.settings(), bundle.pixel_mean, bundle.pixel_std)
        self._gen: torch.Generator | None = None
        n, bs = len(self.train_set), cfg.train.batch_size
        if bs < 2 or bs > n:
            raise ValueError(
                f"train.batch_size is {bs}; objective.task {self.task_name!r} needs batches of at "
                f"least 2 images (batch statistics, negatives) and at most the {n} training "
                f"images; set it between 2 and {n}"
            )

    def setting(self, key: str) -> Any:
        return self.ssl.value(self.task_name, key)

    # -- the model ------------------------------------------------------------------------------
    @property
    def model_io(self) -> tuple[int, int, int]:
        return self.bundle.in_channels, 0, self.bundle.input_size

    @property
    def train_set(self) -> torch.utils.data.Dataset:
        return self.bundle.train

    @property
    def steps_per_epoch(self) -> int:
        # the last incomplete batch is dropped, as in the papers: batch statistics of a
        # handful of images (or one) would be noise, or NaN
        return len(self.train_set) // self.cfg.train.batch_size  # type: ignore[arg-type]

    def head_specs(self, embedding_dim: int) -> dict[str, dict]:
        """name -> head spec of the heads this task trains (see :mod:`brainlike.models.heads`)."""
        raise NotImplementedError

    def wrap_model(self, backbone: torch.nn.Module) -> HeadedModel:
        """The trained module: ``backbone`` (which must give an embedding) and this task's heads.

        With ``objective.ssl.head_input: channels`` the first head of the chain reads the
        embedding's mean over positions per channel (a backbone whose embedding is a flattened
        map says how many channels it has in ``embedding_channels``; others are already a
        vector and are read whole)."""
        wrapped = HeadedModel(backbone, {})
        channels = getattr(backbone, "embedding_channels", None)
        pooled = (
            "head_input" in SSL_TASKS[self.task_name]
            and self.ssl.head_input == "channels"
            and channels is not None
        )
        specs = self.head_specs(channels if pooled else wrapped.embedding_dim)
        if pooled:
            specs[self.chain[0]]["pool_channels"] = int(channels)
        return HeadedModel(backbone, specs)

    def check_model(self, model: torch.nn.Module) -> None:
        super().check_model(model)
        if not isinstance(model, HeadedModel) or set(model.heads) != set(self.chain_heads):
            raise ValueError(
                f"objective.task {self.task_name!r} trains a backbone with the heads "
                f"{sorted(self.chain_heads)}; the model holds "
                f"{sorted(getattr(model, 'heads', {}))}"
            )

    @property
    def chain_heads(self) -> tuple[str, ...]:
        return self.chain

    def bind(self, model: torch.nn.Module, device: torch.device) -> None:
        self.device = device
        self.test_loader = self._loader(self._test_set(), shuffle=False)

    def _test_set(self) -> torch.utils.data.Dataset:
        return _Indexed(self.bundle.test)

    def _loader(
        self, dataset: torch.utils.data.Dataset, shuffle: bool, gen: torch.Generator | None = None
    ) -> torch.utils.data.DataLoader:
        bs = self.cfg.train.batch_size
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=bs if shuffle else max(bs, 256),
            shuffle=shuffle,
            generator=gen,
            num_workers=self.cfg.train.num_workers,
            drop_last=shuffle,
        )

    # -- an epoch -------------------------------------------------------------------------------
    def start_epoch(self, model: torch.nn.Module, epoch: int) -> str:
        # every view and noise sample of the epoch comes from a generator seeded by (seed, epoch)
        self._gen = torch.Generator().manual_seed(self.cfg.seed * 7_919 + epoch + 1)
        return ""

    def train_loader(self, epoch: int) -> torch.utils.data.DataLoader:
        # shuffling depends only on (seed, epoch), so a resumed run sees the same batches; the
        # last incomplete batch is dropped (see steps_per_epoch)
        g = torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch)
        return self._loader(_Indexed(self.train_set), shuffle=True, gen=g)

    def loss(
        self, model: torch.nn.Module, batch: Any, gen: torch.Generator, train: bool
    ) -> tuple[Tensor, int, dict[str, float]]:
        """(loss, samples, metric sums) of ``batch``; ``train``: update the task's state."""
        raise NotImplementedError

    def step(self, model: torch.nn.Module, batch: Any, epoch: int) -> StepOutput:
        batch = [b.to(self.device) if isinstance(b, Tensor) else b for b in batch]
        loss, n, sums = self.loss(model, batch, self._gen, train=True)
        return StepOutput(loss, loss, n, sums)

    # -- held-out data --------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(
        self, model: torch.nn.Module, observe: Callable[[Any, Tensor], None] | None = None
    ) -> dict[str, Any]:
        """Test loss (and the task's metrics), and ``knn_acc`` where there are labels."""
        was = model.training
        model.eval()
        gen = torch.Generator().manual_seed(self.cfg.seed * 7_919)
        sums: dict[str, float] = dict.fromkeys(("loss", *self.metric_names), 0.0)
        total = 0
        for batch in self.test_loader:
            if len(batch[0]) < 2:  # a last batch of one image has no batch statistics
                continue
            batch = [b.to(self.device) for b in batch]
            loss, n, extra = self.loss(model, batch, gen, train=False)
            total += n
            sums["loss"] += float(loss) * n
            for k in self.metric_names:
                sums[k] += extra[k]
        out = {k: v / max(total, 1) for k, v in sums.items()}
        if self.has_labels:
            out["knn_acc"] = self._knn(model)
        model.train(was)
        return out

    def _embed(self, model: torch.nn.Module, dataset: Any) -> tuple[Tensor, Tensor]:
        embs, labels = [], []
        for x, y, _ in self._loader(_Indexed(dataset), shuffle=False):
            embs.append(model(x.to(self.device)))
            labels.append(torch.as_tensor(y).to(self.device))
        return torch.cat(embs), torch.cat(labels)

    def _knn(self, model: torch.nn.Module) -> float:
        train = self.bundle.train
        n = len(train)
        if n > KNN_TRAIN_MAX:
            pick = torch.randperm(n, generator=torch.Generator().manual_seed(self.cfg.seed))
            train = torch.utils.data.Subset(train, pick[:KNN_TRAIN_MAX].tolist())
        train_emb, train_labels = self._embed(model, train)
        test_emb, test_labels = self._embed(model, self.bundle.test)
        return knn_accuracy(
            train_emb, train_labels, test_emb, test_labels, self.ssl.knn_k,
            num_classes=self.bundle.num_classes,
        )  # fmt: skip

    # -- what a run records ---------------------------------------------------------------------
    def observation_batch(self, n: int, seed: int) -> Tensor:
        return ImageClassification.observation_batch(self, n, seed)  # type: ignore[arg-type]

    def preprocessing(self) -> dict[str, Any]:
        return preprocessing_of(self.bundle)

    def two_views(self, x: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        return self.views(x, gen), self.views(x, gen)

    def _refuse_larger_than_data(self, key: str, value: int, what: str) -> None:
        n = len(self.bundle.train)
        if value > n:
            raise ValueError(
                f"objective.ssl.{key} is {value} {what}, more than the {n} training images of "
                f"{self.cfg.data.dataset}; set it below {n}"
            )


# -- contrastive --------------------------------------------------------------------------------
@TASKS.register("simclr")
class SimCLR(EmbeddingTask):
    """SimCLR: NT-Xent between two views through an MLP projector (spec §1)."""

    chain = ("projector",)

    def head_specs(self, embedding_dim: int) -> dict[str, dict]:
        hidden, dim = self.setting("head_hidden"), self.setting("head_dim")
        return {"projector": mlp_spec([embedding_dim, hidden, dim])}

    def loss(self, model, batch, gen, train):  # noqa: ANN001, ANN201
        x = batch[0]
        v1, v2 = self.two_views(x, gen)
        z = model(torch.cat([v1, v2]), self.chain)[-1]  # one forward: BN sees all 2N views
        z1, z2 = z.split(x.shape[0])
        return L.nt_xent_loss(z1, z2, self.setting("temperature")), x.shape[0], {}


@TASKS.register("instance")
class InstanceRecognition(EmbeddingTask):
    """Instance recognition (Wu et al. 2018): NCE against a memory bank of one 128-d embedding
    per training image, with m uniform noise samples (spec §1).

    Decision: the paper's NCE, its normalising constant Z estimated once (Monte Carlo over the
    first batch's noise samples) and then held fixed, as in the paper; the m noise samples are
    shared by the images of a batch. Held-out loss: a test image's positive is the embedding
    of its second view (test images have no bank row).
    """

    chain = ("instance",)

    def __init__(self, cfg: Any, bundle: Any) -> None:
        super().__init__(cfg, bundle)
        self._refuse_larger_than_data("negatives", self.ssl.negatives, "noise samples")
        self.bank: Tensor | None = None
        self.z: float | None = None
        self._loaded: dict[str, Any] | None = None

    def head_specs(self, embedding_dim: int) -> dict[str, dict]:
        return {"instance": mlp_spec([embedding_dim, self.setting("head_dim")])}

    def bind(self, model: torch.nn.Module, device: torch.device) -> None:
        super().bind(model, device)
        n, dim = len(self.bundle.train), self.setting("head_dim")
        gen = torch.Generator().manual_seed(self.cfg.seed)
        self.bank = F.normalize(torch.randn(n, dim, generator=gen), dim=1).to(device)
        if self._loaded is not None:
            self.bank.copy_(self._loaded["bank"])
            self.z = self._loaded["z"]

    def loss(self, model, batch, gen, train):  # noqa: ANN001, ANN201
        x, _, idx = batch
        t, n = self.setting("temperature"), self.bank.shape[0]
        f = F.normalize(model(self.views(x, gen), self.chain)[-1], dim=1)
        noise = self.bank[torch.randint(n, (self.ssl.negatives,), generator=gen).to(x.device)]
        if train:
            if self.z is None:
                self.z = float(L.estimate_partition(f.detach(), noise, n, t))
            positive = self.bank[idx]
        else:
            positive = F.normalize(model(self.views(x, gen), self.chain)[-1], dim=1)
        loss = L.instance_nce_loss(f, positive, noise, n, self.z or 1.0, t)
        if train:
            L.update_memory_bank(self.bank, idx, f, self.ssl.bank_momentum)
        return loss, x.shape[0], {}

    def state_dict(self) -> dict[str, Any]:
        if self.bank is None:
            return {}
        return {"bank": self.bank.detach().cpu().clone(), "z": self.z}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._loaded = state or None


@TASKS.register("moco")
class MoCo(EmbeddingTask):
    """MoCo v2: InfoNCE of a query against its key from a momentum encoder and a queue of
    earlier keys (spec §1). One device: no shuffled BatchNorm (it guards against information
    leaking through the statistics of a multi-GPU batch)."""

    chain = ("projector",)

    def __init__(self, cfg: Any, bundle: Any) -> None:
        super().__init__(cfg, bundle)
        self._refuse_larger_than_data("queue_size", self.ssl.queue_size, "queued keys")
        self.key: torch.nn.Module | None = None
        self.queue: Tensor | None = None
        self.pointer = 0
        self._pending: Tensor | None = None
        self._loaded: dict[str, Any] | None = None

    def head_specs(self, embedding_dim: int) -> dict[str, dict]:
        hidden, dim = self.setting("head_hidden"), self.setting("head_dim")
        return {"projector": mlp_spec([embedding_dim, hidden, dim])}

    def bind(self, model: torch.nn.Module, device: torch.device) -> None:
        super().bind(model, device)
        self.query = model
        self.key = copy.deepcopy(model).requires_grad_(False)
        gen = torch.Generator().manual_seed(self.cfg.seed)
        dim = self.setting("head_dim")
        self.queue = F.normalize(torch.randn(self.ssl.queue_size, dim, generator=gen), dim=1)
        self.queue = self.queue.to(device)
        if self._loaded is not None:
            self.key.load_state_dict(self._loaded["key_encoder"])
            self.queue.copy_(self._loaded["queue"])
            self.pointer = int(self._loaded["pointer"])

    def loss(self, model, batch, gen, train):  # noqa: ANN001, ANN201
        x = batch[0]
        v1, v2 = self.two_views(x, gen)
        q = F.normalize(model(v1, self.chain)[-1], dim=1)
        with torch.no_grad():
            if train:
                L.momentum_update(self.key, self.query, self.ssl.momentum)
            self.key.train(model.training)
            k = F.normalize(self.key(v2, self.chain)[-1], dim=1)
        loss = L.info_nce_loss(q, k, self.queue, self.setting("temperature"))
        if train:
            self._pending = k  # enqueued after the optimizer step: the loss holds the queue
        return loss, x.shape[0], {}

    def after_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self._pending is not None:
            self.pointer = L.enqueue(self.queue, self.pointer, self._pending)
            self._pending = None

    def state_dict(self) -> dict[str, Any]:
        if self.key is None:
            return {}
        return {
            "key_encoder": {k: v.detach().cpu().clone() for k, v in self.key.state_dict().items()},
            "queue": self.queue.detach().cpu().clone(),
            "pointer": self.pointer,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._loaded = state or None


# -- non-contrastive ----------------------------------------------------------------------------
@TASKS.register("simsiam")
class SimSiam(EmbeddingTask):
    """SimSiam: predict one view's projection from the other's, with a stop-gradient (spec §1).
    Projector 3 x (linear + BN [+ ReLU]), predictor d -> 512 -> d."""

    chain = ("projector", "predictor")

    def head_specs(self, embedding_dim: int) -> dict[str, dict]:
        hidden, dim = self.setting("head_hidden"), self.setting("head_dim")
        return {
            "projector": mlp_spec([embedding_dim, hidden, hidden, dim], True, last_bn=True),
            "predictor": mlp_spec([dim, self.ssl.predictor_hidden, dim], True),
        }

    def loss(self, model, batch, gen, train):  # noqa: ANN001, ANN201
        x = batch[0]
        v1, v2 = self.two_views(x, gen)
        _, z1, p1 = model(v1, self.chain)
        _, z2, p2 = model(v2, self.chain)
        return L.simsiam_loss(p1, p2, z1, z2), x.shape[0], {}


class _TwoBranch(EmbeddingTask):
    """Barlow Twins and VICReg: a projector linear-BN-ReLU, linear-BN-ReLU, linear (the papers
    use 8192 wide; the default here is 2048) and a loss between the two views' projections."""

    chain = ("projector",)

    def head_specs(self, embedding_dim: int) -> dict[str, dict]:
        hidden, dim = self.setting("head_hidden"), self.setting("head_dim")
        return {"projector": mlp_spec([embedding_dim, hidden, hidden, dim], True)}

    def pair_loss(self, z1: Tensor, z2: Tensor) -> Tensor:
        raise NotImplementedError

    def loss(self, model, batch, gen, train):  # noqa: ANN001, ANN201
        x = batch[0]
        v1, v2 = self.two_views(x, gen)
        z1, z2 = model(v1, self.chain)[-1], model(v2, self.chain)[-1]
        return self.pair_loss(z1, z2), x.shape[0], {}


@TASKS.register("barlow_twins")
class BarlowTwins(_TwoBranch):
    """Barlow Twins: the views' cross-correlation driven to the identity."""

    def pair_loss(self, z1: Tensor, z2: Tensor) -> Tensor:
        return L.barlow_twins_loss(z1, z2, self.ssl.barlow_lambda)


@TASKS.register("vicreg")
class VICReg(_TwoBranch):
    """VICReg: invariance, variance and covariance terms (weights 25, 25, 1)."""

    def pair_loss(self, z1: Tensor, z2: Tensor) -> Tensor:
        return L.vicreg_loss(z1, z2, *self.ssl.vicreg_weights)


# -- pretext ------------------------------------------------------------------------------------
@TASKS.register("rotnet")
class RotNet(EmbeddingTask):
    """RotNet: classify each image's rotation among 0/90/180/270 degrees (spec §1)."""

    chain = ("rotation",)
    metric_names = ("acc",)

    def head_specs(self, embedding_dim: int) -> dict[str, dict]:
        return {"rotation": mlp_spec([embedding_dim, 4])}

    def loss(self, model, batch, gen, train):  # noqa: ANN001, ANN201
        x, labels = L.rotations(batch[0])
        logits = model(x, self.chain)[-1]
        correct = int((logits.argmax(1) == labels).sum())
        return F.cross_entropy(logits, labels), x.shape[0], {"acc": correct}


@TASKS.register("autoencoder")
class SparseAutoencoder(EmbeddingTask):
    """Sparse autoencoder: a 128-d code h of the embedding, decoded back to the image;
    0.5 MSE + (lambda / numel(h)) ||h||_1 (spec §1). The target is the model's input."""

    chain = ("code", "decoder")

    def head_specs(self, embedding_dim: int) -> dict[str, dict]:
        dim = self.setting("head_dim")
        decoder = {
            "kind": "decoder",
            "in_features": dim,
            "out_channels": self.bundle.in_channels,
            "size": self.bundle.input_size,
        }
        return {"code": mlp_spec([embedding_dim, dim]), "decoder": decoder}

    def loss(self, model, batch, gen, train):  # noqa: ANN001, ANN201
        x = batch[0]
        _, h, x_hat = model(x, self.chain)
        return L.sparse_autoencoder_loss(x_hat, x, h, self.ssl.sparsity), x.shape[0], {}


@TASKS.register("depth")
class DepthPrediction(EmbeddingTask):
    """Depth prediction: a decoder to a 3-channel map and a 3 -> K convolution, trained with
    0.5 MSE against the per-image z-scored target (spec §1) on the bundle's dense pairs."""

    chain = ("decoder",)

    def __init__(self, cfg: Any, bundle: Any) -> None:
        dense = getattr(bundle, "dense", None)
        if dense is None:
            raise ValueError(
                f"objective.task 'depth' trains on image and depth-map pairs, but data.dataset "
                f"{cfg.data.dataset!r} has none; use data.dataset: scenes"
            )
        self.dense_train, self.dense_test = dense
        image, target = self.dense_train[0][0], self.dense_train[0][1]
        if tuple(target.shape[1:]) != tuple(image.shape[1:]):
            raise ValueError(
                f"the dense targets of {cfg.data.dataset!r} are {tuple(target.shape[1:])} but "
                f"its images are {tuple(image.shape[1:])}; they must have the same size"
            )
        self.target_channels = int(target.shape[0])
        super().__init__(cfg, bundle)  # after the dense pairs: the training set is theirs

    @property
    def train_set(self) -> torch.utils.data.Dataset:
        return self.dense_train

    def _test_set(self) -> torch.utils.data.Dataset:
        return _Indexed(self.dense_test)

    def head_specs(self, embedding_dim: int) -> dict[str, dict]:
        decoder = {
            "kind": "decoder",
            "in_features": embedding_dim,
            "out_channels": 3,
            "size": self.bundle.input_size,
            "refine": self.target_channels,
        }
        return {"decoder": decoder}

    def loss(self, model, batch, gen, train):  # noqa: ANN001, ANN201
        x, depth = batch[0], batch[1]
        prediction = model(x, self.chain)[-1]
        return L.depth_loss(prediction, depth), x.shape[0], {}
