"""Packed models: a trained encoder with its scoring settings, usable on its own."""
