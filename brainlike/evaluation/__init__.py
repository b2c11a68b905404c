"""Evaluation: model + recording -> scores (static, temporal), simulated benchmarks, experiment suites."""
