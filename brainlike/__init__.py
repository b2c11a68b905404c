"""brainlike: build, train and score brain-like neural networks."""

__version__ = "0.1.0"
