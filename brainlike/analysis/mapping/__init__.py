"""Mappings from model features (or a source animal) to target neuroids.

Every mapping is a scikit-learn regressor (``fit(X, Y)`` / ``predict(X)``, ``get_params``,
``sklearn.base.clone``) fit on training stimuli only (spec: neural-evaluation.md §3, §10):

=============  ==========================================================================
name           estimator
=============  ==========================================================================
``pls``        :class:`PLSMapping`: PLS regression, 25 components, no scaling (the default)
``ridge``      :class:`RidgeMapping`: ridge, alpha = 1
``ridgecv``    :class:`RidgeCVMapping`: ridge with alpha chosen over a log grid
``linreg``     :class:`LinearRegressionMapping`: least squares
``one_to_one`` :class:`OneToOneMapping`: each target copies its best-correlated source unit
``factored``   :class:`FactoredReadout`: spatially factored readout of (C, H, W) features
``identity``   :class:`IdentityMapping`: no fit (RSA and CKA compare populations directly)
=============  ==========================================================================

:func:`fit_predict_splits` fits one mapping for every (split, target) pair that shares the same
features ``X``; for PLS it shares the expensive work (one Gram matrix, or one pass over ``X``
serving every split and target) instead of refitting from scratch. Ridge, least squares and
one-to-one treat target columns independently: the columns of all targets form one right-hand
side, solved once per split (ridge and least squares from one Gram matrix of all stimuli,
re-centred per split, when features outnumber training stimuli; else from the p x p training
covariance), with scikit-learn's predictions to rounding.

Modules:

================  ==========================================================================
``splits``        :func:`make_mapping` by name and :func:`fit_predict_splits`
``pls``           :class:`PLSMapping`, fast exact PLS (its module docstring has the algebra)
``pls_primal``    the primal PLS engine: two passes over X per component
``pls_kernel``    the kernel PLS engine: two products with the Gram matrix per component
``pls_lockstep``  many PLS fits stacked and advanced together
``linear``        ridge, ridge-CV, least squares; all targets of a split in one solve
``direct``        identity and one-to-one: no regression weights
``factored``      the spatially factored readout (torch)
``estimator``     input checks and the clone-fit-predict loop every mapping shares
``blocks``        float64 products with X one block of rows at a time, memory budget
================  ==========================================================================
"""

from brainlike.analysis.mapping.direct import IdentityMapping, OneToOneMapping
from brainlike.analysis.mapping.factored import FactoredReadout
from brainlike.analysis.mapping.linear import (
    LinearRegressionMapping,
    RidgeCVMapping,
    RidgeMapping,
)
from brainlike.analysis.mapping.pls import PLS_ALGORITHMS, PLSMapping
from brainlike.analysis.mapping.splits import MAPPINGS, fit_predict_splits, make_mapping

__all__ = [
    "MAPPINGS",
    "PLS_ALGORITHMS",
    "FactoredReadout",
    "IdentityMapping",
    "LinearRegressionMapping",
    "OneToOneMapping",
    "PLSMapping",
    "RidgeCVMapping",
    "RidgeMapping",
    "fit_predict_splits",
    "make_mapping",
]
