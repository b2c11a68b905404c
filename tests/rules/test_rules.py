"""The rules of spec learning-rules.md §1 do what the spec says, and convert swaps only
Linear/Conv2d layers."""

import pytest
import torch
from torch import nn

from brainlike.models.locality import LocalityRNN
from brainlike.rules import alignment_loss, asymmetric_layers, convert, make_rule
from brainlike.rules.definitions import init_std


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 10),
    ).double()


def _grads(model, x, y):
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_sham_reproduces_autograd_through_a_whole_net():
    ref, sham = small_net(), small_net()
    assert convert(sham, "sham") == ["0", "5"]
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(6, 1, 8, 8, generator=g, dtype=torch.float64), torch.arange(6)
    a, b = _grads(ref, x, y), _grads(sham, x, y)
    assert set(a) == set(b)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-12)


def test_convert_touches_only_linear_and_conv_and_round_trips_through_state_dicts():
    net = small_net()
    bn, conv_weight = net[1], net[0].weight
    convert(net, "fa")
    assert net[1] is bn and net[0].weight is conv_weight  # everything else as it was
    assert [n for n, _ in asymmetric_layers(net)] == ["0", "5"]
    again = small_net()
    convert(again, "fa")
    with torch.no_grad():
        again[0].weight_backward.zero_()  # whatever it held, the checkpoint's B~ comes back
    again.load_state_dict(net.state_dict())
    x = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    net.eval(), again.eval()
    torch.testing.assert_close(again(x), net(x))
    for k, v in net.state_dict().items():
        assert torch.equal(again.state_dict()[k], v), k


def test_feedback_alignment_keeps_its_random_backward_weights():
    net = small_net()
    convert(net, "feedback_alignment")
    before = net[5].weight_backward.clone()
    make_rule("fa").set_backward(net[5])
    assert torch.equal(net[5].weight_backward, before)
    assert not torch.equal(before, net[5].weight)


@pytest.mark.parametrize("variant", ["usf", "frsf", "brsf"])
def test_sign_symmetry_is_sign_of_w_scaled_to_the_init_std(variant):
    net = nn.Sequential(nn.Linear(50, 20))
    convert(net, make_rule("ss", variant=variant))
    lin, rule = net[0], make_rule("ss", variant=variant)
    g = torch.Generator().manual_seed(2)
    rule.set_backward(lin, g)
    first = lin.weight_backward.clone()
    std = init_std(lin)
    assert std == pytest.approx(1 / (3 * 50) ** 0.5)
    assert torch.equal(torch.sign(first), torch.sign(lin.weight))
    rule.set_backward(lin, g)
    if variant == "usf":
        assert torch.allclose(first.abs(), torch.full_like(first, std))
    elif variant == "frsf":
        assert torch.equal(lin.weight_backward, first)  # the magnitude is drawn once
        assert "backward_magnitude" in lin.state_dict()  # and kept in checkpoints
    else:
        assert not torch.equal(lin.weight_backward, first)  # redrawn every batch
        # |N(0, 1)| has mean sqrt(2 / pi)
        assert float(first.abs().mean() / std) == pytest.approx((2 / torch.pi) ** 0.5, rel=0.1)


def _descend(rule, layer, x, steps=400, lr=0.5):
    layer.weight_backward.requires_grad_(True)
    opt = torch.optim.SGD([layer.weight_backward], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        alignment_loss(rule, layer, x, layer(x)).backward()
        opt.step()


def test_symmetric_alignment_with_alpha_equal_beta_drives_b_to_w():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(6, 4).double())
    rule = make_rule("sa", decay=1.0, self=1.0)
    convert(net, rule)
    x = torch.randn(16, 6, dtype=torch.float64)
    _descend(rule, net[0], x, steps=100, lr=0.5)  # dB~ = B~ - W: halves the gap each step
    torch.testing.assert_close(
        net[0].weight_backward.detach(), net[0].weight.detach(), atol=1e-12, rtol=0
    )


def test_activation_alignment_with_alpha_equal_beta_is_the_least_squares_fit():
    torch.manual_seed(4)
    net = nn.Sequential(nn.Linear(5, 3, bias=False).double())
    rule = make_rule("aa", sparse=1.0, amp=1.0)
    convert(net, rule)
    lin = net[0]
    x = torch.randn(40, 5, dtype=torch.float64)
    r = lin(x).detach() + 0.3 * torch.randn(40, 3, dtype=torch.float64)  # a noisy output
    fit = torch.linalg.lstsq(x, r).solution.T  # (3, 5): r ~ x @ fit^T
    lin.weight_backward.requires_grad_(True)
    with torch.no_grad():
        lin.weight_backward.copy_(fit)
    grad = torch.autograd.grad(alignment_loss(rule, lin, x, r), lin.weight_backward)[0]
    assert float(grad.abs().max()) < 1e-12  # the least-squares fit is the minimum
    with torch.no_grad():
        lin.weight_backward.add_(0.1)
    grad = torch.autograd.grad(alignment_loss(rule, lin, x, r), lin.weight_backward)[0]
    assert float(grad.abs().max()) > 1e-3


def test_kolen_pollack_makes_w_minus_b_decay_geometrically():
    torch.manual_seed(5)
    net = nn.Sequential(nn.Linear(8, 3).double())
    rule = make_rule("kp")
    convert(net, rule)
    lin = net[0]
    lr, wd = 0.05, 0.1
    opt = torch.optim.SGD([lin.weight, lin.bias, lin.weight_backward], lr=lr, weight_decay=wd)
    gaps = []
    for _ in range(20):
        x, y = torch.randn(16, 8, dtype=torch.float64), torch.randint(0, 3, (16,))
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        rule.after_backward(lin)
        opt.step()
        gaps.append(float((lin.weight - lin.weight_backward).detach().norm()))
    ratios = torch.tensor(gaps[1:], dtype=torch.float64) / torch.tensor(
        gaps[:-1], dtype=torch.float64
    )
    # spec: W - B~ shrinks by (1 - lr * decay) every step, whatever the data
    torch.testing.assert_close(ratios, torch.full_like(ratios, 1 - lr * wd), rtol=1e-9, atol=0)


def test_bad_rules_are_refused_with_one_clear_line():
    with pytest.raises(
        ValueError, match="known rules: .*kolen_pollack.*aliases: .*fa=feedback_alignment"
    ):
        make_rule("hebbian")
    with pytest.raises(ValueError, match="coefficients must be finite and >= 0, got decay=-1.0"):
        make_rule("sa", decay=-1)
    with pytest.raises(
        ValueError, match="has no coefficient gamma; its coefficients are decay, self"
    ):
        make_rule("sa", gamma=1)
    with pytest.raises(ValueError, match="choose one of usf, frsf, brsf"):
        make_rule("ss", variant="bsf")
    with pytest.raises(ValueError, match="takes no option"):
        make_rule("fa", alpha=1)
    with pytest.raises(ValueError, match="has none"):
        convert(nn.Sequential(nn.ReLU()), "fa")
    with pytest.raises(ValueError, match=r"cannot convert 0 \(Conv1d\), 1 \(LocalityRNN\) yet"):
        convert(nn.Sequential(nn.Conv1d(1, 2, 3), LocalityRNN(3, 4)), "fa")
    assert convert(small_net(), "backprop") == []


def _mirror(layer, rule, sigma, steps, lr=0.05, batch=256, seed=0):
    """Weight-mirror descent on noise inputs x ~ N(0, sigma^2 I) (mirror steps only)."""
    from brainlike.rules.primitives import gradients

    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = sigma * torch.randn(batch, layer.in_features, generator=g, dtype=torch.float64)
        with torch.no_grad():
            r = x @ layer.weight.T
            layer.weight_backward -= lr * gradients(layer, x, r, rule.loss)


@pytest.mark.parametrize("sigma2, expected", [(0.5, 1.0), (2.0, 4.0), (0.125, 0.25)])
def test_weight_mirror_settles_at_alpha_sigma2_over_beta_times_w(sigma2, expected):
    # dB~ = alpha E[r x^T] - beta B~ = alpha sigma^2 W - beta B~: B~ -> (alpha sigma^2 / beta) W.
    # With alpha = 2, beta = 1, B~ = W exactly when sigma^2 = beta / alpha = 0.5; elsewhere B~
    # keeps W's direction but is scaled, and the error sent down L layers by c^L: through the
    # 8-layer linear stack below, 4^8 = 65,536 times too large at sigma^2 = 2 (exploding) and
    # 0.25^8 = 1.5e-5 times at sigma^2 = 0.125 (vanishing). (The spec's "variance alpha / beta"
    # is beta / alpha in its own equation dB = alpha x r^T - beta B.)
    torch.manual_seed(6)
    rule = make_rule("wm", amp=2.0, decay=1.0)
    net = nn.Sequential(*[nn.Linear(12, 12, bias=False) for _ in range(8)]).double()
    convert(net, rule)
    for layer in net:
        _mirror(layer, rule, sigma2**0.5, steps=60, lr=0.2)
        w, wb = layer.weight.detach(), layer.weight_backward.detach()
        ratio = float(wb.norm() / w.norm())
        cos = float((w * wb).sum() / (w.norm() * wb.norm()))
        assert ratio == pytest.approx(expected, rel=0.1) and cos > 0.98
    x = torch.randn(4, 12, dtype=torch.float64, requires_grad=True)
    (g_rule,) = torch.autograd.grad(net(x).sum(), x)
    with torch.no_grad():
        for layer in net:
            layer.weight_backward.copy_(layer.weight)
    (g_true,) = torch.autograd.grad(net(x).sum(), x)
    gain = float(g_rule.norm() / g_true.norm())
    assert gain == pytest.approx(expected**8, rel=0.6)  # stable only where expected == 1
