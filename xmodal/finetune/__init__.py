"""Limited-label fine-tuning (paper Table 4): an n-pair layer on frozen embeddings, and the
fully supervised baseline trained end to end on the same speaker subsets."""
