"""The project's development helpers, shared by tests/, benchmarks/ and scripts/: tiny
pipelines built offline, the benchmark data's location, the experiment runner and the
smoke kit. Installed editable by ``make install``; not part of the spacy-stsn wheel."""
