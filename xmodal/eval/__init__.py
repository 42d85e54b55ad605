"""Evaluation: verification metrics (EER, minDCF, DET), cosine / AS-norm scoring, plots."""
