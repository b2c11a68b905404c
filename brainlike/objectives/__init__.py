"""Losses: supervised, codes, reconstruction, spatial correlation."""
