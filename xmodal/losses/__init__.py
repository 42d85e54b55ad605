"""Training objectives: sync (content), identity, confusion (disentanglement), n-pair."""
