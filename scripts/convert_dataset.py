"""Convert one SpERT-format dataset to .spacy: python scripts/convert_dataset.py
DATA_DIR NAME OUT

Reads ``DATA_DIR/NAME/NAME_{train,dev,test}.json`` with ``NAME_types.json`` (the layout
of SpERT's CoNLL04, ADE, SciERC, ACE05 downloads) and writes
``OUT/{train,dev,test}.spacy``, plus ``OUT/train_dev.spacy`` when
``NAME_train_dev.json`` exists. Symmetric relation types of the types file travel with
the corpus. A missing file stops the run before anything is written, with an error that
names it.
"""

import json
import sys
from pathlib import Path

from spacy_stsn.files import check_writable
from spacy_stsn.formats.spert import convert_file

PARTS = ("train", "dev", "test")


def main(data_dir: Path, name: str, out: Path) -> int:
    folder = data_dir / name
    required = [folder / f"{name}_{part}.json" for part in PARTS + ("types",)]
    missing = [str(path) for path in required if not path.is_file()]
    if missing:
        print(
            f"error: dataset {name!r} is missing {', '.join(missing)} (expected {folder}/{name}_train.json, "
            f"{name}_dev.json, {name}_test.json and {name}_types.json)",
            file=sys.stderr,
        )
        return 1
    parts = list(PARTS) + (
        ["train_dev"] if (folder / f"{name}_train_dev.json").is_file() else []
    )
    try:
        check_writable(*(out / f"{part}.spacy" for part in parts))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for part in parts:
        try:
            stats = convert_file(
                folder / f"{name}_{part}.json",
                out / f"{part}.spacy",
                folder / f"{name}_types.json",
            )
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"{name}_{part}.json -> {out / f'{part}.spacy'}: {json.dumps(stats)}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])))
