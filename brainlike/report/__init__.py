"""Figures, movies and self-contained HTML reports."""
