"""Trunks, heads and the assembled cross-modal model (DESIGN §4)."""
