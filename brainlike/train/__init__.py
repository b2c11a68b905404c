"""The training loop (HF Accelerate), checkpoints, snapshots."""
