"""Corpus-scale extraction on a Ray cluster (Ray Data), imported only when used: input
blocks, the driver, ordered output and the storage it reads and writes."""
