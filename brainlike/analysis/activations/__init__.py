"""Layer activations of a model for a set of stimuli: hooks, batches, an on-disk cache, PCA.

:func:`extract_activations` runs a model over stimuli in batches and records chosen layers as
``(stimulus, unit)`` arrays, each unit a flattened element of the layer's output (row-major, so
a conv layer's ``(C, H, W)`` output becomes ``C * H * W`` channel-major units).

Layer names
    ``dict(model.named_modules())`` names (a forward hook records the module's output);
    ``"output"``, the model's output (``.logits`` of a :class:`~brainlike.models.sheet.SheetOutput`,
    the first element of a tuple); ``"sheet:<name>"`` (or a bare ``<name>`` that is not a
    module), a map of ``model(x, return_all=True).sheets``: models with a cortical sheet
    (Reset networks: ``sheet:levels.0.grid``) expose it there, and their unit positions in
    ``model.sheet``. :func:`list_layers` lists what a model offers.

Cache layout (``cache_dir`` given)
    ``cache_dir/<key>/<layer>.npy`` (a ``(stimulus, unit)`` array written batch by batch through
    ``np.lib.format.open_memmap``) and ``cache_dir/<key>/meta.json`` (shape, dtype, unit shape,
    the key's components). ``<key>`` is the sha256 of: the model's weights and buffers (names,
    dtypes, shapes, bytes), its class and ``repr`` (architecture), the preprocessing dict as
    canonical JSON, the stimulus bytes (with shape and dtype), the layer name, the storage dtype,
    the brainlike and torch versions, the number of time steps (time-resolved extractions
    only), and for PCA-projected layers the PCA settings and training rows. A changed weight, pixel, setting or version gives a new key, so a stale entry is never
    served. The array is written to a temporary file and renamed into place, and ``meta.json``
    is written (atomically) last: an entry without it (a crash mid-write) is recomputed; an entry
    whose array does not match its metadata is recomputed with a warning. Cached arrays come back
    as read-only memory maps. The execution device and batch size are not part of the key (they
    change values only at float rounding). Left-over ``.*.tmp`` files of killed runs can be
    deleted.

Memory
    At most one batch of every recorded layer is in RAM while the model runs; the rest streams
    to disk. Without ``cache_dir``, layers whose total size is below
    :data:`IN_MEMORY_LIMIT_BYTES` are kept as plain arrays; larger ones go to a temporary
    directory owned by the :class:`Activations` (removed by :meth:`Activations.close`, at the end
    of a ``with`` block, or when the object is garbage collected).

Time-resolved models (``time_steps=T``)
    A recurrent model unrolled over time calls each recorded module once per time step (the
    ConvRNN contract: every node's forward runs exactly once per step; a GRCNN's per-iteration
    taps are separate modules and are recorded without ``time_steps``). With ``time_steps=T``
    every recorded module must run exactly ``T`` times per forward pass (a clear error names
    the layer and its count otherwise), and its array gains a trailing time axis:
    ``(stimulus, unit, time)``, ``[..., t]`` the module's output at its ``t``-th call. When
    the model's ``forward`` takes a ``time_steps`` keyword it is passed ``T`` (so a model can
    be unrolled for any length); otherwise the model must unroll ``T`` steps by itself.
    ``time_steps="model"`` reads the model's own ``time_steps`` attribute
    (:func:`model_time_steps`). ``"output"`` is recorded when the model returns one output per
    step (a list or tuple of ``T`` tensors); sheet layers are not time-resolved. ``T`` is part
    of the cache key. PCA (``pca_components``) is fit on the training stimuli's rows pooled
    over time (each (stimulus, step) pair one sample), and every step is projected onto the
    same components: the unit axis of all steps stays one space, as a temporally fixed
    mapping needs.

Modules
    :mod:`~brainlike.analysis.activations.extraction` (:func:`extract_activations`: batches,
    hooks, sinks, PCA), :mod:`~brainlike.analysis.activations.result` (:class:`Activations`),
    :mod:`~brainlike.analysis.activations.layers` (layer names, sheets, time steps, the dry
    run), :mod:`~brainlike.analysis.activations.stimuli` (batches, hashing, preprocessing) and
    :mod:`~brainlike.analysis.activations.cache` (keys, entries, ``brainlike cache``).
"""

from brainlike.analysis.activations.cache import (
    CACHE_FORMAT,
    cache_summary,
    clear_cache,
    model_digest,
)
from brainlike.analysis.activations.cache import _Sink as _Sink
from brainlike.analysis.activations.extraction import (
    IN_MEMORY_LIMIT_BYTES,
    extract_activations,
)
from brainlike.analysis.activations.layers import (
    OUTPUT,
    SHEET_PREFIX,
    list_layers,
    model_time_steps,
    module_calls,
    resolve_time_steps,
    sheet_layers,
)
from brainlike.analysis.activations.layers import _accepts_time_steps as _accepts_time_steps
from brainlike.analysis.activations.result import Activations

# _Sink and _accepts_time_steps, private, are re-exported ("X as X") because tests and
# brainlike.evaluation import them from this path.
__all__ = [
    "CACHE_FORMAT",
    "IN_MEMORY_LIMIT_BYTES",
    "OUTPUT",
    "SHEET_PREFIX",
    "Activations",
    "cache_summary",
    "clear_cache",
    "extract_activations",
    "list_layers",
    "model_digest",
    "model_time_steps",
    "module_calls",
    "resolve_time_steps",
    "sheet_layers",
]
