"""Encoder-decoder model, decoding, training and export."""
