"""Spatial correlation loss (spec: topography.md §4) against a slow obvious implementation."""

import numpy as np
import pytest
import torch

from brainlike.objectives.spatial import spatial_correlation_loss
from brainlike.objectives.supervised import code_loss, decode_codes, reconstruction_loss


def _slow_loss(resp: np.ndarray, coords: np.ndarray) -> float:
    n = resp.shape[1]
    r, t = [], []
    for i in range(n):
        for j in range(i + 1, n):
            r.append(np.corrcoef(resp[:, i], resp[:, j])[0, 1])
            t.append(1.0 / (1.0 + np.linalg.norm(coords[i] - coords[j])))
    return (1.0 - np.corrcoef(r, t)[0, 1]) / 2.0


def test_matches_slow_implementation_when_all_units_fit():
    rng = np.random.default_rng(0)
    resp = rng.normal(size=(16, 9))
    coords = np.array([(i, j) for i in range(3) for j in range(3)], dtype=float)
    got = spatial_correlation_loss(torch.tensor(resp, dtype=torch.float64), torch.tensor(coords))
    assert float(got) == pytest.approx(_slow_loss(resp, coords), abs=1e-6)


def test_smooth_sheet_has_low_loss_and_gradients_flow():
    # responses made of a spatially smooth field: neighbours correlate more than distant units
    torch.manual_seed(0)
    side = 8
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    coords = torch.stack([yy.ravel(), xx.ravel()], 1).float()
    centres = torch.rand(64, 2) * side
    smooth = torch.exp(-(torch.cdist(centres, coords) ** 2) / 8.0)
    rough = torch.randn(64, side * side, requires_grad=True)
    assert float(spatial_correlation_loss(smooth, coords)) < 0.25
    loss = spatial_correlation_loss(rough, coords)
    assert 0.4 < float(loss.detach()) < 0.6
    loss.backward()
    assert rough.grad is not None and rough.grad.abs().sum() > 0


def test_neighbourhood_is_sampled_reproducibly():
    resp = torch.randn(8, 100)
    coords = torch.tensor([(i, j) for i in range(10) for j in range(10)], dtype=torch.float32)
    a = spatial_correlation_loss(resp, coords, 20, torch.Generator().manual_seed(3))
    b = spatial_correlation_loss(resp, coords, 20, torch.Generator().manual_seed(3))
    assert float(a) == float(b)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="batch of at least 2"):
        spatial_correlation_loss(torch.randn(1, 4), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="coords"):
        spatial_correlation_loss(torch.randn(3, 4), torch.zeros(5, 2))


def test_code_decoding_and_reconstruction_losses():
    book = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    logits = torch.tensor([[5.0, -5.0, -5.0], [-5.0, 5.0, 4.0]])
    assert decode_codes(logits, book).tolist() == [0, 1]
    assert float(code_loss(torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]))) == pytest.approx(
        np.log(2)
    )
    img = torch.tensor([[[[0.0, 2.0], [4.0, 2.0]]]])  # rescaled target [0, .5, 1, .5]
    assert float(reconstruction_loss(torch.zeros_like(img), img, "bce")) == pytest.approx(np.log(2))
    assert float(reconstruction_loss(img, img, "mse")) == 0.0
    with pytest.raises(ValueError):
        reconstruction_loss(img, img, "l1")
