"""The model under test: the layers scored by default, from a ResNet to a VOne front end."""

from __future__ import annotations

from brainlike.evaluation.scoring_model import default_layers, load_scoring_model


def test_default_layers_of_resnet20_are_its_blocks():
    sm = load_scoring_model("resnet20")
    layers = default_layers(sm.model, (1, 32, 32))
    assert layers[0] == "conv1"
    assert [f"layer{s}.{b}" for s in (1, 2, 3) for b in range(3)] == layers[1:10]
    assert layers[-2:] == ["pool", "fc"]


def test_default_layers_of_a_recurrent_model_read_each_stage_at_its_last_iteration():
    sm = load_scoring_model("grcnn-small")
    layers = default_layers(sm.model, (3, 32, 32))
    taps = [lay for lay in layers if lay.startswith("stage")]
    assert taps == ["stage1.iter3", "stage2.iter3", "stage3.iter4", "stage4.iter3"]


def test_default_layers_reach_behind_a_vone_front_end():
    from brainlike.models.grcnn import GRCNN
    from brainlike.models.vone import with_vone

    backend = GRCNN(
        depth=55, num_classes=10, width=0.125, in_channels=8, input_size=8, iterations=[1, 1, 1, 1]
    )
    model = with_vone(
        backend,
        backend_in_channels=8,
        in_channels=1,
        image_size=16,
        simple_channels=4,
        complex_channels=4,
        kernel_size=5,
        stride=2,
        visual_degrees=2.0,
        noise=False,
    )
    layers = default_layers(model, (1, 16, 16))
    names = {n for n, _ in model.named_modules()}
    assert layers[:2] == ["vone.noise", "vone"] and "backend.stage1.iter1" in layers
    assert all(name in names for name in layers)
