"""Corpus formats in and out: SpERT JSON, spaCy's DocBin and brat standoff."""
