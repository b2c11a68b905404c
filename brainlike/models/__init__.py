"""Architectures: Reset networks, parallel subnetworks, baselines."""
