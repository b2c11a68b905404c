"""Experiment configs: the shipped recipes load, validate and build; bad configs are rejected
with messages that name the key and say what is allowed (spec: topography.md §1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from brainlike.config import ConfigError, ExperimentConfig, config_from_dict, load_config
from brainlike.models.reset import count_parameters, reset_n
from brainlike.models.zoo import build_from_config

CONFIGS = Path(__file__).resolve().parents[1] / "brainlike" / "configs"
RECIPES = sorted(CONFIGS.glob("*.yaml"))
RECIPE_IDS = [p.stem for p in RECIPES]

# What each dataset feeds the model when the recipe leaves channels / input_size unset:
# (in_channels, out_features, input_size). Numbers produce 100-d codes, not 10 classes.
DATASET_SHAPES = {
    "digits": (1, 10, 16),
    "mnist": (1, 10, 28),
    "fashion_mnist": (1, 10, 28),
    "cifar10": (3, 10, 32),
    "cifar100": (3, 100, 32),
    "numbers": (3, 100, 32),
    "imagefolder": (3, 1000, 224),  # the full-scale recipes expect ImageNet
    "scenes": (3, 5, 64),  # five shapes
}

# spec §1, Reset(n) table: n -> (subnetworks, outputs per subnetwork); the grid is 32x32.
RESET_TABLE = {1: (1, 1024), 2: (4, 256), 4: (16, 64), 8: (64, 16)}

# spec §1, parameter counts printed by the original notebooks.
SPEC_PARAMETERS = {
    "reset8-cifar100-categories": 17_562_454,
    "reset4-numbers": 4_646_998,
    # spec recurrent.md §4, 1000-way heads
    "grcnn55-imagenet": 24_929_704,
    "grcnn109-imagenet": 45_075_880,
}

# spec §1, training table (all Adam lr 1e-3): dataset -> (batch, class_weighted, augment, epochs).
TRAINING_AS_RUN = {
    "mnist": (500, True, False, 20),
    "fashion_mnist": (500, False, False, 20),
    "cifar10": (100, False, True, 20),
    "cifar100": (100, False, True, 20),
    "numbers": (100, False, False, 50),
}

PAPER_RECIPES = [
    f"reset{n}-{data}" for n in (1, 2, 4, 8) for data in ("mnist", "fashion-mnist", "cifar10")
] + ["reset8-cifar100-categories", "reset4-numbers"]


def model_shapes(cfg: ExperimentConfig) -> tuple[int, int, int]:
    if cfg.data.dataset == "trajectories":  # (per-step inputs, place cells, start code)
        n = cfg.objective.place_cells.n
        return 2, n, n
    channels, out, size = DATASET_SHAPES[cfg.data.dataset]
    return cfg.data.channels or channels, out, cfg.data.input_size or size


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def reject(data: object) -> str:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data, "bad.yaml")  # type: ignore[arg-type]
    return str(info.value)


# --- the shipped recipes -------------------------------------------------------------------


def test_all_expected_recipes_are_shipped():
    expected = set(PAPER_RECIPES) | {
        "reset4-small-digits",
        "reset8-small-digits",
        "demo-plain",
        "demo-spatial",
    }
    missing = expected - set(RECIPE_IDS)
    assert not missing, f"recipes missing from {CONFIGS}: {sorted(missing)}"


@pytest.mark.parametrize("path", RECIPES, ids=RECIPE_IDS)
def test_recipe_loads_and_names_itself(path: Path):
    cfg = load_config(path)
    assert cfg.name == path.stem
    text = path.read_text()
    assert text.startswith("#"), f"{path.name} should open with a comment saying what it reproduces"
    # A round trip through the dumped YAML gives back the same experiment.
    assert config_from_dict(cfg.model_dump(mode="json")) == cfg


@pytest.mark.parametrize("path", RECIPES, ids=RECIPE_IDS)
def test_recipe_model_builds(path: Path):
    cfg = load_config(path)
    in_channels, out_features, input_size = model_shapes(cfg)
    model = build_from_config(cfg.model, in_channels, out_features, input_size)
    assert model.in_channels == in_channels
    assert model.out_features == out_features
    assert model.input_size in (input_size, None)  # None: any size
    n_params = count_parameters(model)
    assert n_params > 0
    if path.stem in SPEC_PARAMETERS:
        assert n_params == SPEC_PARAMETERS[path.stem]


@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_paper_recipe_is_the_reset_family_as_run(name: str):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    n = int(name.split("-")[0].removeprefix("reset"))
    (level,) = cfg.model.levels
    assert (level.subnets, level.outputs) == RESET_TABLE[n]
    assert level.subnet == "resnet20" and cfg.model.master == "resnet20"
    assert cfg.model.dropout == 0.2
    assert not cfg.model.autoencoder and cfg.objective.spatial.weight == 0.0
    # The grid is 32x32 for every member of the family.
    side, tile = round(level.subnets**0.5), round(level.outputs**0.5)
    assert side * tile == 32
    # Same parameters as the zoo's Reset(n) with the dataset's channels and outputs.
    in_channels, out_features, input_size = model_shapes(cfg)
    built = build_from_config(cfg.model, in_channels, out_features, input_size)
    assert count_parameters(built) == count_parameters(reset_n(n, in_channels, out_features))
    # Training table.
    batch, weighted, augment, epochs = TRAINING_AS_RUN[cfg.data.dataset]
    t = cfg.train
    assert (t.optimizer, t.lr, t.weight_decay, t.schedule) == ("adam", 1e-3, 0.0, "constant")
    assert (t.batch_size, cfg.objective.class_weighted, cfg.data.augment, t.epochs) == (
        batch,
        weighted,
        augment,
        epochs,
    )
    assert t.snapshots_per_epoch >= 1
    # Real datasets are never fetched behind the user's back.
    assert cfg.data.download is False
    if cfg.data.dataset != "numbers":
        assert cfg.data.data_dir is None
        assert cfg.data.normalize is True
        assert cfg.objective.task == "classification"


def test_cifar100_category_sets_are_the_spec_indices():
    cfg = load_config(CONFIGS / "reset8-cifar100-categories.yaml")
    assert cfg.data.dataset == "cifar100"
    assert cfg.analysis.target_sets == {
        "people": [2, 11, 35, 46, 98],
        "houses": [17, 37, 76],
        "objects": [9, 10, 16, 20, 22],
    }
    assert not cfg.analysis.ordered


def test_numbers_recipe_uses_codes_and_ordered_labels():
    cfg = load_config(CONFIGS / "reset4-numbers.yaml")
    assert cfg.data.dataset == "numbers" and cfg.objective.task == "codes"
    assert (cfg.data.channels, cfg.data.input_size) == (3, 32)
    assert cfg.analysis.ordered and not cfg.analysis.target_sets


@pytest.mark.parametrize("n", [4, 8])
def test_small_digits_recipes_are_quick_cpu_runs(n: int):
    cfg = load_config(CONFIGS / f"reset{n}-small-digits.yaml")
    assert cfg.data.dataset == "digits"
    assert cfg.train.device == "cpu"
    (level,) = cfg.model.levels
    assert (level.subnets, level.outputs, level.subnet) == (*RESET_TABLE[n], "small")
    model = build_from_config(cfg.model, *model_shapes(cfg))
    assert count_parameters(model) < 1_000_000


def test_root_configs_folder_is_the_shipped_one():
    root = Path(__file__).resolve().parents[1] / "configs"
    if not root.exists():
        pytest.skip("no configs/ link at the repository root")
    assert {p.name for p in root.glob("*.yaml")} == {p.name for p in RECIPES}


# --- rejections ----------------------------------------------------------------------------


def test_unknown_top_level_key_lists_allowed_keys():
    msg = reject({"trian": {"epochs": 3}})
    assert "trian: unknown key" in msg
    for key in ("name", "seed", "data", "model", "objective", "train", "analysis"):
        assert key in msg.split("allowed keys here:")[1]


def test_unknown_nested_key_lists_allowed_keys():
    msg = reject({"train": {"epoch": 3}})
    assert "train.epoch: unknown key" in msg
    assert "epochs" in msg and "batch_size" in msg and "snapshots_per_epoch" in msg


def test_unknown_key_inside_a_level_lists_level_keys():
    msg = reject({"model": {"levels": [{"subnets": 16, "outputs": 64, "subnett": "small"}]}})
    assert "model.levels.0.subnett: unknown key" in msg
    assert "allowed keys here: subnets, outputs, subnet, channels, depth" in msg


def test_wrong_type_names_key_and_value():
    msg = reject({"train": {"epochs": "ten"}})
    assert "train.epochs" in msg
    assert "integer" in msg
    assert "'ten'" in msg


def test_bad_literal_lists_allowed_datasets():
    msg = reject({"data": {"dataset": "imagenet"}})
    assert "data.dataset" in msg and "'imagenet'" in msg
    for name in ("digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "numbers"):
        assert f"'{name}'" in msg


def test_bad_subnet_kind_lists_allowed_kinds():
    msg = reject({"model": {"levels": [{"subnets": 4, "outputs": 256, "subnet": "vgg"}]}})
    assert "model.levels.0.subnet" in msg and "'small'" in msg and "'resnet20'" in msg


def test_subnets_not_a_square_suggests_neighbours():
    msg = reject({"model": {"levels": [{"subnets": 15, "outputs": 64}]}})
    assert "model.levels.0.subnets" in msg
    assert "square" in msg and "9 or 16" in msg


def test_outputs_not_a_square_suggests_neighbours():
    msg = reject({"model": {"levels": [{"subnets": 16, "outputs": 60}]}})
    assert "model.levels.0.outputs" in msg
    assert "square" in msg and "49 or 64" in msg


def test_reconstruction_needs_autoencoder():
    msg = reject({"objective": {"reconstruction_weight": 0.5}})
    assert "objective.reconstruction_weight" in msg and "model.autoencoder: true" in msg
    # With the head switched on the same weight is fine.
    cfg = config_from_dict(
        {"objective": {"reconstruction_weight": 0.5}, "model": {"autoencoder": True}}
    )
    assert cfg.objective.reconstruction_weight == 0.5


def test_codes_need_the_numbers_dataset():
    msg = reject({"data": {"dataset": "mnist"}, "objective": {"task": "codes"}})
    assert "objective.task 'codes'" in msg and "data.dataset 'numbers'" in msg and "'mnist'" in msg
    msg = reject({"data": {"dataset": "numbers"}, "objective": {"task": "classification"}})
    assert "objective.task: codes" in msg


def test_spatial_level_beyond_levels():
    msg = reject({"objective": {"spatial": {"weight": 1.0, "level": 1}}})
    assert "objective.spatial.level is 1" in msg and "1 level(s)" in msg and "0..0" in msg


def test_channels_with_resnet20_subnet():
    msg = reject(
        {
            "model": {
                "levels": [{"subnets": 16, "outputs": 64, "subnet": "resnet20", "channels": [8]}]
            }
        }
    )
    assert "model.levels.0" in msg
    assert "'channels' applies to subnet: small only" in msg and "set subnet: small" in msg


def test_depth_with_small_subnet_and_bad_depth():
    msg = reject(
        {"model": {"levels": [{"subnets": 16, "outputs": 64, "subnet": "small", "depth": 20}]}}
    )
    assert "'depth' applies to subnet: resnet20 only" in msg
    msg = reject(
        {"model": {"levels": [{"subnets": 16, "outputs": 64, "subnet": "resnet20", "depth": 21}]}}
    )
    assert "6n+2" in msg and "21" in msg


def test_every_problem_is_listed():
    msg = reject({"train": {"epochs": "ten", "batch_size": 0}, "data": {"dataset": "imagenet"}})
    assert "3 problem(s)" in msg
    assert "train.epochs" in msg and "train.batch_size" in msg and "data.dataset" in msg


def test_non_mapping_top_level_dict():
    msg = reject([1, 2])
    assert "top level must be a mapping" in msg and "list" in msg


def test_invalid_yaml(tmp_path: Path):
    path = write(tmp_path, "train:\n  epochs: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_non_mapping_top_level_file(tmp_path: Path):
    path = write(tmp_path, "- name: x\n- seed: 1\n")
    with pytest.raises(ConfigError, match="top level must be a mapping of keys, got list") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_non_mapping_top_level_file_with_overrides(tmp_path: Path):
    path = write(tmp_path, "- name: x\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(path, overrides={"train.epochs": 3})


def test_missing_file(tmp_path: Path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="does not exist") as info:
        load_config(path)
    msg = str(info.value)
    assert str(path) in msg and "brainlike configs" in msg


@pytest.mark.parametrize("text", ["", "# nothing but a comment\n"])
def test_empty_file_is_refused_not_trained_with_the_defaults(tmp_path: Path, text: str):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="is empty") as info:
        load_config(path, overrides={"train.epochs": 1})
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["0\n", "false\n", "''\n", "just words\n"])
def test_scalar_top_level_is_refused(tmp_path: Path, text: str):
    with pytest.raises(ConfigError, match="top level must be a mapping of keys"):
        load_config(write(tmp_path, text))


def test_file_errors_name_the_file(tmp_path: Path):
    path = write(tmp_path, "data:\n  dataset: imagenet\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(str(path))


# --- overrides -----------------------------------------------------------------------------


def test_overrides_are_applied():
    cfg = load_config(CONFIGS / "reset8-mnist.yaml", overrides={"train.epochs": 3})
    assert cfg.train.epochs == 3
    assert cfg.train.batch_size == 500  # the rest is untouched


def test_overrides_create_missing_sections_and_skip_none(tmp_path: Path):
    path = write(tmp_path, "name: x\n")
    cfg = load_config(path, overrides={"data.data_dir": "~/data", "seed": 7, "train.epochs": None})
    assert cfg.data.data_dir == "~/data" and cfg.seed == 7
    assert cfg.train.epochs == ExperimentConfig().train.epochs


def test_overrides_are_validated():
    with pytest.raises(ConfigError, match=r"train\.epochs"):
        load_config(CONFIGS / "reset8-mnist.yaml", overrides={"train.epochs": -1})


def test_override_through_a_non_mapping(tmp_path: Path):
    path = write(tmp_path, "train: 5\n")
    with pytest.raises(ConfigError, match="cannot set train.epochs: train is not a mapping"):
        load_config(path, overrides={"train.epochs": 3})


def test_download_without_data_dir_says_where():
    msg = reject({"data": {"dataset": "cifar10", "download": True}})
    assert "data.download" in msg and "data_dir" in msg and "--data-dir" in msg


def test_to_yaml_keeps_non_ascii_letters_and_round_trips(tmp_path: Path) -> None:
    cfg = config_from_dict({"name": "Größe-κ", "description": "μ-Netz für V1"})
    text = cfg.to_yaml()
    assert "name: Größe-κ" in text and "description: μ-Netz für V1" in text
    (tmp_path / "c.yaml").write_bytes(text.encode("utf-8"))
    again = load_config(tmp_path / "c.yaml")
    assert (again.name, again.description) == ("Größe-κ", "μ-Netz für V1")
