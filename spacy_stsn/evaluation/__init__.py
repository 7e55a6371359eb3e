"""Scoring NER, RE and RE+ (the paper's metrics), evaluating a pipeline on a corpus and
tuning its thresholds on dev."""
