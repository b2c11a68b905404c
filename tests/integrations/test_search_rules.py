"""A learning rule is a dimension of a search space like any config key (issue: learning
rules, 3): each trial trains under the rule it samples, and the trial's config records it."""

import yaml

from brainlike.config import load_config
from brainlike.integrations.search import run_search


def test_a_search_samples_the_learning_rule(tmp_path):
    spec = {
        "name": "rule-search",
        "base": {
            "name": "tiny-convrnn",
            "data": {"dataset": "digits", "input_size": 32, "train_size": 40, "test_size": 20},
            "model": {"kind": "convrnn", "width": 0.0625, "time_steps": 7, "t_on": 7},
            "train": {"epochs": 1, "batch_size": 20, "device": "cpu", "threads": 1},
        },
        "n_trials": 4,
        "epochs": 1,
        "seed": 0,
        "startup_trials": 4,
        "units_layers": ["nodes.conv1", "nodes.conv2", "nodes.conv3", "nodes.conv4",
                         "nodes.conv5"],
        "space": {
            "cells": {"layers": ["conv5"], "kinds": ["none"]},
            "params": {
                "rule.kind": {"type": "categorical",
                              "choices": ["backprop", "feedback_alignment", "kolen_pollack"]},
                "rule.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            },
        },
    }  # fmt: skip
    path = tmp_path / "rule-search.yaml"
    path.write_text(yaml.safe_dump(spec))
    summary = run_search(path, tmp_path / "out")
    assert summary["states"] == {"complete": 4}
    kinds = []
    for trial in sorted((tmp_path / "out" / "trials").iterdir()):
        cfg = load_config(trial / "config.yaml")
        kinds.append(cfg.rule.kind)
        metrics = (trial / "metrics.jsonl").read_text()
        # a rule with backward weights records their alignment; backprop has none
        assert ("rule_angle_deg" in metrics) == (cfg.rule.kind != "backprop")
    assert set(kinds) <= {"backprop", "feedback_alignment", "kolen_pollack"} and len(kinds) == 4
    assert len(set(kinds)) >= 2  # seed 0 samples more than one rule in 4 random trials
