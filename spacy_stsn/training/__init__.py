"""Training helpers for spaCy's loop: the progress logger and the dev curve it draws."""
