"""Matching embeddings against enrolled templates (pure numpy; never imports storage)."""
