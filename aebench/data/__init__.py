"""Helpers for data-set plugins: verified downloads, IDX files, image sets."""
