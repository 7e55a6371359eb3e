"""Convert ADE (full) and its 10 SpERT cross-validation folds to .spacy: python
scripts/convert_ade.py DATA_DIR OUT"""

import sys
from pathlib import Path

from spacy_stsn.formats.spert import convert_file
from stsn_dev.summaries import check_outputs


def main(data_dir: Path, out: Path) -> None:
    types = data_dir / "ade_types.json"
    jobs = [(data_dir / "ade_full.json", out / "full.spacy")]
    for k in range(10):
        for part in ("train", "test"):
            jobs.append(
                (
                    data_dir / f"ade_split_{k}_{part}.json",
                    out / f"fold_{k}_{part}.spacy",
                )
            )
    check_outputs(*(target for _, target in jobs))
    for source, target in jobs:
        stats = convert_file(source, target, types)
        print(
            f"{source.name} -> {target}: {stats['documents']} documents, {stats['entities']} entities, "
            f"{stats['relations']} relations, {stats['docs_with_overlapping_entities']} with overlaps"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
