"""Judging a trained model: BLEU on real decoding, blessing, reports."""
