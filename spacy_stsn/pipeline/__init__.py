"""The ``stsn`` spaCy component: factory, settings, training targets, decoding and the
annotations it reads and writes on a Doc."""
