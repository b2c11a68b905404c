"""``train.threads`` holds for the whole run, data loading included, and ends with it."""

import torch

from brainlike.config import config_from_dict
from brainlike.train.checkpoint import load_checkpoint
from brainlike.train.loop import train


def test_a_run_with_train_threads_does_not_depend_on_the_process_threads(tmp_path):
    cfg = config_from_dict(
        {
            "name": "threads",
            "seed": 1,
            "data": {"dataset": "digits", "input_size": 28, "train_size": 128, "test_size": 50},
            "model": {"kind": "lenet", "locality": {"enabled": False}},
            "train": {"optimizer": "sgd", "lr": 0.05, "batch_size": 64, "epochs": 1,
                      "device": "cpu", "threads": 1},
        }
    )  # fmt: skip
    before = torch.get_num_threads()
    weights = []
    try:
        for n, process_threads in enumerate((2, 3)):
            torch.set_num_threads(process_threads)
            train(cfg, tmp_path / f"run{n}", progress=False, analyse=False)
            assert torch.get_num_threads() == process_threads  # restored after the run
            weights.append(load_checkpoint(tmp_path / f"run{n}/checkpoints/last.pt")["model"])
    finally:
        torch.set_num_threads(before)
    # the digits were resized with one thread both times: bit-identical runs
    for k in weights[0]:
        assert torch.equal(weights[0][k], weights[1][k]), k
