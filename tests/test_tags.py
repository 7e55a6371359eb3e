import pytest

from spacy_stsn.pipeline.tags import decode_tags, encode_tags


def test_codeine_intoxication_extended_bio():
    # Figure 4 of the paper: "Codeine intoxication in the neonate ."
    spans = [(0, 1, "DRUG"), (0, 2, "AE")]
    tags, skipped = encode_tags(6, spans, "extended_BIO")
    assert tags == ["B-AE/B-DRUG", "I-AE", "O", "O", "O", "O"]
    assert skipped == 0
    assert decode_tags(tags) == sorted(spans)


def test_plain_bio_leaves_overlap_untagged_and_counts_it():
    tags, skipped = encode_tags(6, [(0, 1, "DRUG"), (0, 2, "AE")], "BIO")
    assert tags == ["B-AE", "I-AE", "O", "O", "O", "O"]
    assert skipped == 1


def test_nested_inside_and_crossing_overlaps_round_trip():
    spans = [(0, 4, "AE"), (2, 3, "DRUG"), (5, 7, "AE"), (6, 9, "DRUG")]
    tags, skipped = encode_tags(10, spans, "extended_BIO")
    assert skipped == 0
    assert tags[2] == "I-AE/B-DRUG"
    assert tags[6] == "I-AE/B-DRUG" and tags[7] == "I-DRUG"
    assert decode_tags(tags) == sorted(spans)


def test_third_fold_is_not_tagged():
    tags, skipped = encode_tags(
        3, [(0, 3, "A"), (0, 2, "B"), (0, 1, "C")], "extended_BIO"
    )
    assert skipped == 1
    assert tags == ["B-A/B-B", "I-A/I-B", "I-A"]


def test_adjacent_entities_of_same_type_stay_apart():
    spans = [(0, 2, "Loc"), (2, 3, "Loc")]
    tags, _ = encode_tags(3, spans, "BIO")
    assert tags == ["B-Loc", "I-Loc", "B-Loc"]
    assert decode_tags(tags) == spans


def test_bad_scheme_and_label():
    with pytest.raises(ValueError, match="Unknown tag scheme"):
        encode_tags(2, [], "BILOU")
    with pytest.raises(ValueError, match="reserves"):
        encode_tags(2, [(0, 1, "A/B")], "BIO")
