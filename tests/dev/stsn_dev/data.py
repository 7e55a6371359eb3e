"""Where the benchmark datasets (SpERT JSON: conll04/, ade/) are."""

import os
from pathlib import Path

# the repository's root: tests/dev/stsn_dev/data.py -> parents[3]
REPO = Path(__file__).resolve().parents[3]


def data_dir() -> Path:
    """The SpERT datasets: ``$STSN_DATA_DIR``, else ``../shared/data`` beside the
    repository."""
    return Path(os.environ.get("STSN_DATA_DIR", REPO.parent / "shared" / "data"))
