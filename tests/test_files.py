"""Files written whole or not at all (spacy_stsn.files), the one rule of every writer
in the package."""

import pytest

from spacy_stsn.files import (
    is_temporary,
    remove_temporaries,
    replacing,
    temporary_name,
    write_text,
)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    write_text(target, "old\r\n")
    with pytest.raises(KeyboardInterrupt):
        with replacing(target) as temporary:
            temporary.write_text("half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old\r\n"  # line ends as given
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_temporary_names_are_hidden_unique_and_recognised(tmp_path):
    names = {temporary_name("a.ann") for _ in range(3)}
    assert len(names) == 3
    assert all(n.startswith(".a.ann.") and is_temporary(f"x/{n}") for n in names)
    assert not is_temporary("a.ann") and not is_temporary(".hidden")


def test_a_folder_is_written_whole_and_stale_temporaries_are_removed(tmp_path):
    target = tmp_path / "corpus"
    (tmp_path / temporary_name("corpus")).mkdir()  # a killed writer's
    (tmp_path / temporary_name("other")).write_text("not ours")
    remove_temporaries(target)
    with replacing(target) as temporary:
        temporary.mkdir()
        (temporary / "part-00000.spacy").write_text("x")
    assert [p.name for p in target.iterdir()] == ["part-00000.spacy"]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left[0].startswith(".other.") and left[1:] == ["corpus"]
