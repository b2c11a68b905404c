"""Data streams: offline digits, torchvision datasets, generated stimuli."""
