"""Losses: supervised, codes, reconstruction, spatial correlation, self-supervised."""
