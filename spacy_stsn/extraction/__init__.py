"""Extraction over files for people who do not write Python: the local command, its
outputs, the displaCy view, and corpus-scale extraction on Ray (:mod:`.ray`)."""
