"""The command line: ``python -m spacy_stsn COMMAND``, thin layers over the library."""
