"""The STSN network (paper section 3) in pure PyTorch: no spaCy or Thinc in here."""
