"""SpERT JSON -> .spacy: counts against the datasets' SOURCE.md statistics, overlaps, round trips, bad input."""
import json

import pytest
import spacy
from spacy.tokens import DocBin

from conftest import DATA_DIR
from spacy_stsn.__main__ import main
from spacy_stsn.convert import convert_file, corpus_stats, docs_to_spert, spert_to_docs

# From ../shared/data/{conll04,ade}/SOURCE.md
EXPECTED = {
    ("conll04", "conll04_train.json"): (922, 26525, 3377, 1283, {"Loc": 1219, "Org": 616, "Other": 455, "Peop": 1087},
                                        {"Kill": 179, "Live_In": 330, "Located_In": 247, "OrgBased_In": 271,
                                         "Work_For": 256}, 0),
    ("conll04", "conll04_dev.json"): (231, 6993, 893, 343, {"Loc": 322, "Org": 170, "Other": 118, "Peop": 283},
                                      {"Kill": 42, "Live_In": 91, "Located_In": 65, "OrgBased_In": 76,
                                       "Work_For": 69}, 0),
    ("conll04", "conll04_test.json"): (288, 8336, 1079, 422, {"Loc": 427, "Org": 198, "Other": 133, "Peop": 321},
                                       {"Kill": 47, "Live_In": 100, "Located_In": 94, "OrgBased_In": 105,
                                        "Work_For": 76}, 0),
    ("ade", "ade_full.json"): (4272, 90714, 10839, 6821, {"Adverse-Effect": 5776, "Drug": 5063},
                               {"Adverse-Effect": 6821}, 119),
}


def _path(dataset, name):
    path = DATA_DIR / dataset / name
    if not path.exists():
        pytest.skip(f"benchmark data not found at {path}")
    return path


@pytest.mark.parametrize("dataset,name", list(EXPECTED))
def test_counts_match_source_statistics(tmp_path, dataset, name):
    types = _path(dataset, f"{dataset}_types.json")
    stats = convert_file(_path(dataset, name), tmp_path / "out.spacy", types)
    docs, tokens, ents, rels, ent_types, rel_types, overlapping = EXPECTED[(dataset, name)]
    assert (stats["documents"], stats["tokens"], stats["entities"], stats["relations"]) == (docs, tokens, ents, rels)
    assert stats["entity_types"] == ent_types and stats["relation_types"] == rel_types
    assert stats["docs_with_overlapping_entities"] == overlapping
    # what is on disk says the same
    nlp = spacy.blank("en")
    assert corpus_stats(list(DocBin().from_disk(tmp_path / "out.spacy").get_docs(nlp.vocab))) == stats


def test_ade_nesting_is_kept_in_the_span_group_and_resolved_in_ents(ade_overlap_records):
    nlp = spacy.blank("en")
    docs = list(spert_to_docs(ade_overlap_records[:5], nlp.vocab))
    for record, doc in zip(ade_overlap_records, docs):
        assert sorted((s.start, s.end, s.label_) for s in doc.spans["stsn"]) == \
            sorted((e["start"], e["end"], e["type"]) for e in record["entities"])
        covered = [i for e in doc.ents for i in range(e.start, e.end)]
        assert len(covered) == len(set(covered))
        # the outer Adverse-Effect wins over the nested Drug ("[Codeine] intoxication")
        nests = [e for e in doc.ents if any(s.start >= e.start and s.end <= e.end and (s.start, s.end) != (e.start, e.end)
                                            for s in doc.spans["stsn"])]
        assert nests and all(e.label_ == "Adverse-Effect" for e in nests)


def test_relations_follow_unsorted_entities_and_round_trip(ade_overlap_records):
    nlp = spacy.blank("en")
    records = ade_overlap_records
    docs = list(spert_to_docs(records, nlp.vocab))
    restored = list(DocBin(docs=docs, store_user_data=True).from_bytes(
        DocBin(docs=docs, store_user_data=True).to_bytes()).get_docs(nlp.vocab))
    for record, doc in zip(records, restored):
        ents = record["entities"]
        expected = {(ents[r["head"]]["start"], ents[r["head"]]["end"], ents[r["tail"]]["start"],
                     ents[r["tail"]]["end"], r["type"]) for r in record["relations"]}
        assert {(*r["head"], *r["tail"], r["label"]) for r in doc._.relations} == expected
        assert doc.user_data["orig_id"] == record["orig_id"]
    back = docs_to_spert(restored)
    for record, again in zip(records, back):
        def canon(r):
            e = r["entities"]
            return (r["tokens"], sorted((x["start"], x["end"], x["type"]) for x in e),
                    sorted((e[x["head"]]["start"], e[x["tail"]]["start"], x["type"]) for x in r["relations"]),
                    r["orig_id"])
        assert canon(again) == canon(record)


GOOD = {"tokens": ["John", "lives", "in", "Rome"], "orig_id": 77,
        "entities": [{"type": "Peop", "start": 0, "end": 1}, {"type": "Loc", "start": 3, "end": 4}],
        "relations": [{"type": "Live_In", "head": 0, "tail": 1}]}


def _bad(**change):
    record = json.loads(json.dumps(GOOD))
    for key, value in change.items():
        target, field = key.split("__") if "__" in key else (key, None)
        if field is None:
            record[target] = value
        else:
            record[target][0][field] = value
    return record


@pytest.mark.parametrize("record,message", [
    (_bad(relations__head=5), r"relation 0 \(Live_In\) head 5 does not index one of the 2 entities"),
    (_bad(entities__end=9), r"entity 0 \(Peop\) span \[0, 9\) is outside the sentence's 4 tokens"),
    (_bad(entities__end=0), r"entity 0 \(Peop\) has end 0 <= start 0"),
    (_bad(entities__type="Person"), r"entity 0 has unknown label 'Person'"),
    (_bad(relations__type="Lives"), r"relation 0 has unknown label 'Lives'"),
    (_bad(tokens=[]), r"has no tokens"),
    (dict(_bad(), entities=GOOD["entities"] + GOOD["entities"][:1]), r"listed twice"),
])
def test_bad_input_names_the_document_and_the_problem(record, message):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=r"train\.json: document #1 \(orig_id=77\): .*" + message):
        list(spert_to_docs([GOOD, record], nlp.vocab, ["Peop", "Loc"], ["Live_In"], source="train.json"))


def test_command_line(tmp_path, capsys):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps([GOOD]))
    bad.write_text(json.dumps([_bad(relations__tail=3)]))
    assert main(["convert", str(good), str(tmp_path / "good.spacy")]) == 0
    assert '"relations": 1' in capsys.readouterr().out
    assert main(["convert", str(bad), str(tmp_path / "bad.spacy")]) == 1
    err = capsys.readouterr().err
    assert "orig_id=77" in err and "tail 3 does not index" in err and "Traceback" not in err
    assert not (tmp_path / "bad.spacy").exists()
