"""SpERT JSON -> .spacy: counts against the datasets' SOURCE.md statistics, overlaps,
round trips, bad input."""

import json
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import pytest
import spacy
from conftest import DATA_DIR
from spacy.tokens import DocBin, Span
from spacy.training import Corpus
from spacy.vocab import Vocab
from srsly import msgpack as srsly_msgpack

from spacy_stsn.cli.main import main
from spacy_stsn.formats.docbin import (
    cached_msgpack_extensions,
    corpus_stats,
    read_docbin,
)
from spacy_stsn.formats.spert import convert_file, docs_to_spert, spert_to_docs
from spacy_stsn.formats.types import load_types

# documents, tokens, entities, relations, per entity type, per relation type, docs with
# overlapping entities: the tables in DATA_DIR/{conll04,ade}/SOURCE.md
EXPECTED = {
    ("conll04", "conll04_train.json"): (
        922,
        26525,
        3377,
        1283,
        {"Loc": 1219, "Org": 616, "Other": 455, "Peop": 1087},
        {
            "Kill": 179,
            "Live_In": 330,
            "Located_In": 247,
            "OrgBased_In": 271,
            "Work_For": 256,
        },
        0,
    ),
    ("conll04", "conll04_dev.json"): (
        231,
        6993,
        893,
        343,
        {"Loc": 322, "Org": 170, "Other": 118, "Peop": 283},
        {
            "Kill": 42,
            "Live_In": 91,
            "Located_In": 65,
            "OrgBased_In": 76,
            "Work_For": 69,
        },
        0,
    ),
    ("conll04", "conll04_test.json"): (
        288,
        8336,
        1079,
        422,
        {"Loc": 427, "Org": 198, "Other": 133, "Peop": 321},
        {
            "Kill": 47,
            "Live_In": 100,
            "Located_In": 94,
            "OrgBased_In": 105,
            "Work_For": 76,
        },
        0,
    ),
    ("ade", "ade_full.json"): (
        4272,
        90714,
        10839,
        6821,
        {"Adverse-Effect": 5776, "Drug": 5063},
        {"Adverse-Effect": 6821},
        119,
    ),
}
ADE_OVERLAPPING_PAIRS = (
    120  # ade/SOURCE.md: all nest a Drug in an Adverse-Effect, and all are related
)


def _path(dataset, name):
    path = DATA_DIR / dataset / name
    if not path.exists():
        pytest.skip(
            f"benchmark data not found at {path} (set STSN_DATA_DIR to the folder holding conll04/ and ade/)"
        )
    return path


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """``(dataset, name) -> (records, stats, docs read back from the .spacy file)``,
    converted once each."""
    cache = {}

    def convert(dataset, name):
        if (dataset, name) not in cache:
            source = _path(dataset, name)
            output = tmp_path_factory.mktemp(dataset) / "out.spacy"
            stats = convert_file(
                source, output, _path(dataset, f"{dataset}_types.json")
            )
            with cached_msgpack_extensions():
                docs = list(DocBin().from_disk(output).get_docs(Vocab()))
            cache[dataset, name] = (
                json.loads(source.read_text(encoding="utf8")),
                stats,
                docs,
            )
        return cache[dataset, name]

    return convert


def in_document_order(record):
    """A SpERT record with its entities sorted as ``docs_to_spert`` writes them,
    relations re-indexed."""
    ents = record["entities"]
    order = sorted(
        range(len(ents)),
        key=lambda i: (ents[i]["start"], ents[i]["end"], ents[i]["type"]),
    )
    new = {old: n for n, old in enumerate(order)}
    return dict(
        record,
        entities=[ents[i] for i in order],
        relations=[
            dict(r, head=new[r["head"]], tail=new[r["tail"]])
            for r in record["relations"]
        ],
    )


def spans_of(group):
    return [(span.start, span.end, span.label_) for span in group]


@pytest.mark.parametrize("dataset,name", list(EXPECTED))
def test_counts_match_source_statistics(converted, dataset, name):
    _, stats, docs = converted(dataset, name)
    n_docs, tokens, ents, rels, ent_types, rel_types, overlapping = EXPECTED[
        (dataset, name)
    ]
    assert (
        stats["documents"],
        stats["tokens"],
        stats["entities"],
        stats["relations"],
    ) == (n_docs, tokens, ents, rels)
    assert stats["entity_types"] == ent_types and stats["relation_types"] == rel_types
    assert stats["docs_with_overlapping_entities"] == overlapping
    assert {**corpus_stats(docs), "spacy_files": 1} == stats  # as on disk


@pytest.mark.parametrize("dataset,name", list(EXPECTED))
def test_the_spacy_file_gives_back_the_records(converted, dataset, name):
    records, _, docs = converted(dataset, name)
    assert docs_to_spert(docs) == [in_document_order(r) for r in records]
    for doc in docs:
        group = doc.spans["stsn"]
        assert list(group.attrs["scores"]) == [1.0] * len(group)
        covered = [i for ent in doc.ents for i in range(ent.start, ent.end)]
        assert len(covered) == len(set(covered)) and set(spans_of(doc.ents)) <= set(
            spans_of(group)
        )


def test_ade_overlaps_are_kept_nested_and_related(converted):
    _, _, docs = converted("ade", "ade_full.json")
    pairs = []
    for doc in docs:
        related = {(tuple(r["head"]), tuple(r["tail"])) for r in doc._.relations}
        for a, b in combinations(doc.spans["stsn"], 2):
            if a.start < b.end and b.start < a.end:
                outer, inner = (a, b) if len(a) > len(b) else (b, a)
                assert outer.start <= inner.start and inner.end <= outer.end, doc.text
                assert (outer.label_, inner.label_) == ("Adverse-Effect", "Drug"), (
                    doc.text
                )
                assert (
                    (outer.start, outer.end),
                    (inner.start, inner.end),
                ) in related, doc.text
                # doc.ents keeps the outer entity where the inner one was
                assert [
                    e for e in spans_of(doc.ents) if e[0] <= inner.start < e[1]
                ] == spans_of([outer])
                pairs.append(doc.user_data["orig_id"])
    assert (
        len(pairs) == ADE_OVERLAPPING_PAIRS
        and len(set(pairs)) == EXPECTED["ade", "ade_full.json"][-1]
    )


def test_codeine_intoxication_nesting(converted):
    """'[[Codeine] intoxication] in the neonate': listed outer first, kept both, outer
    in doc.ents."""
    _, _, docs = converted("ade", "ade_full.json")
    doc = next(d for d in docs if d.user_data["orig_id"] == 116)
    assert doc.text.startswith("Codeine intoxication")
    assert spans_of(doc.spans["stsn"]) == [(0, 1, "Drug"), (0, 2, "Adverse-Effect")]
    assert spans_of(doc.ents) == [(0, 2, "Adverse-Effect")]
    assert [(r.head.text, r.tail.text, r.label) for r in doc._.relation_spans] == [
        ("Codeine intoxication", "Codeine", "Adverse-Effect")
    ]


def test_relations_and_span_groups_survive_docbin(ade_overlap_records):
    vocab = Vocab()
    docs = list(spert_to_docs(ade_overlap_records, vocab))
    restored = list(
        DocBin(store_user_data=True)
        .from_bytes(DocBin(docs=docs, store_user_data=True).to_bytes())
        .get_docs(vocab)
    )
    for doc, again in zip(docs, restored):
        assert again._.relations == doc._.relations and again._.relations
        assert spans_of(again.spans["stsn"]) == spans_of(doc.spans["stsn"])
        assert (
            list(again.spans["stsn"].attrs["scores"])
            == doc.spans["stsn"].attrs["scores"]
        )
        assert spans_of(again.ents) == spans_of(doc.ents)
        assert again.user_data["orig_id"] == doc.user_data["orig_id"]


def test_types_file_and_labels(tmp_path):
    (tmp_path / "types.json").write_text(json.dumps(TYPES))
    assert load_types(tmp_path / "types.json") == (["Peop", "Loc"], ["Live_In"])
    # without label lists any label is accepted
    doc = next(spert_to_docs([_bad(entities__type="Person")], Vocab()))
    assert spans_of(doc.spans["stsn"]) == [(0, 1, "Person"), (3, 4, "Loc")]


GOOD = {
    "tokens": ["John", "lives", "in", "Rome"],
    "orig_id": 77,
    "entities": [
        {"type": "Peop", "start": 0, "end": 1},
        {"type": "Loc", "start": 3, "end": 4},
    ],
    "relations": [{"type": "Live_In", "head": 0, "tail": 1}],
}
TYPES = {
    "entities": {"Peop": {}, "Loc": {}},
    "relations": {"Live_In": {"symmetric": False}},
}


def _bad(**change):
    """GOOD with ``key=value`` replaced, or ``key__field=value`` in its first
    entity/relation."""
    record = json.loads(json.dumps(GOOD))
    for key, value in change.items():
        target, field = key.split("__") if "__" in key else (key, None)
        if field is None:
            record[target] = value
        else:
            record[target][0][field] = value
    return record


def _without(key):
    return {k: v for k, v in GOOD.items() if k != key}


BAD = [
    (_without("tokens"), r"no 'tokens'"),
    (
        _bad(tokens="John lives in Rome"),
        r"'tokens' must be a list of strings",
    ),
    (_bad(tokens=[]), r"the document has no tokens"),
    (
        _bad(entities__end=9),
        r"entity 0 \(Peop\) span \[0, 9\) is outside the sentence's 4 tokens",
    ),
    (
        _bad(entities__start=-1),
        r"entity 0 \(Peop\) span \[-1, 1\) is outside the sentence's 4 tokens",
    ),
    (_bad(entities__end=0), r"entity 0 \(Peop\) has end 0 <= start 0"),
    (_bad(entities__start="0"), r"entity 0 \(Peop\) has non-integer start/end '0'/1"),
    (_bad(entities__type="Person"), r"entity 0 has the unknown type 'Person'"),
    (_bad(entities__type=None), r"entity 0 has no type"),
    (_bad(entities={"type": "Peop"}), r"'entities' must be a list of objects"),
    (
        dict(GOOD, entities=GOOD["entities"] + GOOD["entities"][:1]),
        r"entity 2 \(Peop, \[0, 1\)\) is listed twice",
    ),
    (
        _bad(relations__head=5),
        r"relation 0 \(Live_In\) head 5 does not index one of the 2 entities",
    ),
    (
        _bad(relations__tail=-1),
        r"relation 0 \(Live_In\) tail -1 does not index one of the 2 entities",
    ),
    (
        _bad(relations__tail="1"),
        r"relation 0 \(Live_In\) tail '1' does not index one of the 2 entities",
    ),
    (_bad(relations__head=True), r"relation 0 \(Live_In\) head True does not index"),
    (_bad(relations__type="Lives"), r"relation 0 has the unknown type 'Lives'"),
    (_bad(relations=[[0, 1]]), r"'relations' must be a list of objects"),
    (_without("entities"), r"no 'entities' key \(a document without entities has "),
    (
        {("relation" if k == "relations" else k): v for k, v in GOOD.items()},
        r"unknown key 'relation' \(a SpERT document has 'tokens', 'entities', 'relations' "
        r"and optionally 'orig_id'\); did you mean 'relations'\?",
    ),
    (
        _without("relations"),
        r"no 'relations' key, though train\.json: document #0 \(orig_id=77\) has a "
        r"'relations' key \(an entities-only file leaves the key out of every document\)",
    ),
    (
        _bad(tokens=["John", "lives in", "in", "Rome"]),
        r"token 1 'lives in' contains whitespace \(a token is a non-empty string",
    ),
    (_bad(tokens=["John", "\n", "in", "Rome"]), r"token 1 '\\n' is only whitespace"),
    (_bad(tokens=["John", "lives", "", "Rome"]), r"token 2 '' is empty"),
    (_bad(tokens=["John", "lives", "in", 3]), r"token 3 3 is not a string"),
]


@pytest.mark.parametrize("record,message", BAD, ids=[m for _, m in BAD])
def test_bad_input_names_the_file_the_document_and_the_problem(record, message):
    with pytest.raises(
        ValueError, match=r"^train\.json: document #1 \(orig_id=77\): " + message
    ):
        list(
            spert_to_docs(
                [GOOD, record],
                Vocab(),
                ["Peop", "Loc"],
                ["Live_In"],
                source="train.json",
            )
        )


def test_export_refuses_a_relation_to_a_non_entity():
    doc = next(spert_to_docs([GOOD], Vocab()))
    doc.spans["stsn"] = [Span(doc, 0, 1, label="Peop")]
    with pytest.raises(
        ValueError, match=r"orig_id=77 #0 .*relation 0 \(Live_In\) .*\(3, 4, 'Loc'\)"
    ):
        docs_to_spert([doc])


def test_command_line(tmp_path, capsys):
    good, bad, types = (
        tmp_path / "good.json",
        tmp_path / "bad.json",
        tmp_path / "types.json",
    )
    good.write_text(json.dumps([GOOD]))
    bad.write_text(json.dumps([GOOD, _bad(relations__tail=3)]))
    types.write_text(json.dumps(TYPES))
    assert (
        main(
            [
                "convert",
                str(good),
                str(tmp_path / "good.spacy"),
                "--types",
                str(types),
                "--spans-key",
                "gold",
            ]
        )
        == 0
    )
    assert '"relations": 1' in capsys.readouterr().out
    doc = next(DocBin().from_disk(tmp_path / "good.spacy").get_docs(Vocab()))
    assert (
        spans_of(doc.spans["gold"]) == [(0, 1, "Peop"), (3, 4, "Loc")]
        and len(doc._.relations) == 1
    )

    assert main(["convert", str(bad), str(tmp_path / "bad.spacy")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert (
        f"{bad}: document #1 (orig_id=77): relation 0 (Live_In) tail 3 does not index"
        in err
    )
    assert not (tmp_path / "bad.spacy").exists()  # nothing half-written

    (tmp_path / "broken.json").write_text('[{"tokens": ')
    assert (
        main(["convert", str(tmp_path / "broken.json"), str(tmp_path / "broken.spacy")])
        == 1
    )
    assert "broken.json" in capsys.readouterr().err
    assert (
        main(["convert", str(good), str(tmp_path / "x.spacy"), "--types", str(good)])
        == 1
    )
    assert "not a SpERT types file" in capsys.readouterr().err


def _records(n):
    """GOOD ``n`` times, each with its own orig_id."""
    return [dict(GOOD, orig_id=i) for i in range(n)]


def test_an_entities_only_file_leaves_relations_out_of_every_document(tmp_path):
    ner_only = [_without("relations"), dict(_without("relations"), orig_id=78)]
    (tmp_path / "ner.json").write_text(json.dumps(ner_only))
    with pytest.warns(
        UserWarning,
        match=r"ner\.json: document #0 \(orig_id=77\) has no 'relations' key: the file is "
        r"read as entities only",
    ):
        stats = convert_file(tmp_path / "ner.json", tmp_path / "ner.spacy")
    assert (stats["documents"], stats["entities"], stats["relations"]) == (2, 4, 0)
    (tmp_path / "mixed.json").write_text(json.dumps(ner_only[:1] + [GOOD]))
    with (
        pytest.warns(UserWarning),
        pytest.raises(
            ValueError,
            match=r"mixed\.json: document #1 \(orig_id=77\): a 'relations' key, though "
            r".*mixed\.json: document #0 \(orig_id=77\) has no 'relations' key",
        ),
    ):
        convert_file(tmp_path / "mixed.json", tmp_path / "mixed.spacy")
    assert not (tmp_path / "mixed.spacy").exists()


def test_jsonl_is_read_line_by_line(tmp_path):
    records = _records(3)
    (tmp_path / "list.json").write_text(json.dumps(records, indent=1))
    lines = "".join(json.dumps(r) + "\n" for r in records)
    (tmp_path / "docs.jsonl").write_text(lines + "\n")  # a blank line at the end
    stats = convert_file(tmp_path / "docs.jsonl", tmp_path / "jsonl.spacy")
    assert stats == convert_file(tmp_path / "list.json", tmp_path / "list.spacy")
    vocab = Vocab()
    assert docs_to_spert(read_docbin(tmp_path / "jsonl.spacy", vocab)) == records
    # a byte order mark is skipped, in JSONL and in a JSON list
    (tmp_path / "bom.jsonl").write_text(lines, encoding="utf-8-sig")
    (tmp_path / "bom.json").write_text(json.dumps(records), encoding="utf-8-sig")
    for name in ("bom.jsonl", "bom.json"):
        assert convert_file(tmp_path / name, tmp_path / "bom.spacy") == stats

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(GOOD) + "\n" + json.dumps(_bad(entities__end=9)) + "\n")
    with pytest.raises(
        ValueError, match=rf"^{bad}:2: document #1 \(orig_id=77\): entity 0 \(Peop\)"
    ):
        convert_file(bad, tmp_path / "bad.spacy")
    bad.write_text(lines + json.dumps(GOOD, indent=1))  # a document over several lines
    with pytest.raises(
        ValueError,
        match=rf"^{bad}:4: not a JSON document \(.*\); a JSONL file holds one whole "
        "document a line, else give a JSON list of documents",
    ):
        convert_file(bad, tmp_path / "bad.spacy")
    bad.write_text('"tokens"')
    with pytest.raises(ValueError, match=r"expected a JSON list of documents"):
        convert_file(bad, tmp_path / "bad.spacy")
    assert not (tmp_path / "bad.spacy").exists()


def test_the_json_list_is_read_as_a_stream(tmp_path):
    """The first bad document is reported though the file breaks off after it: nothing
    reads it whole."""
    broken = tmp_path / "broken.json"
    text = json.dumps([GOOD, _bad(relations__tail=3)])
    broken.write_text(text[:-1] + ', {"tokens": [')
    with pytest.raises(ValueError, match=r"document #1 \(orig_id=77\): relation 0"):
        convert_file(broken, tmp_path / "out.spacy")
    broken.write_text(json.dumps(_records(2))[:-1] + ', {"tokens": [')
    with pytest.raises(
        ValueError,
        match=rf"^{broken}: invalid JSON after 2 complete documents \(parse error",
    ):
        convert_file(broken, tmp_path / "out.spacy")


def test_a_large_corpus_is_a_folder_of_parts_that_spacy_reads_as_one(tmp_path):
    source, output = tmp_path / "big.json", tmp_path / "big.spacy"
    source.write_text(json.dumps(_records(5)))
    # 4 tokens a document, at most 9 a part: 2 + 2 + 1 documents
    stats = convert_file(source, output, part_tokens=9)
    assert stats["documents"] == 5 and stats["spacy_files"] == 3
    assert sorted(p.name for p in output.iterdir()) == [
        f"part-0000{i}.spacy" for i in range(3)
    ]
    nlp = spacy.blank("en")
    examples = list(Corpus(output)(nlp))  # spacy train's reader, given the one path
    assert [eg.reference.user_data["orig_id"] for eg in examples] == list(range(5))
    assert all(len(eg.reference._.relations) == 1 for eg in examples)
    assert docs_to_spert(read_docbin(output, Vocab())) == _records(5)

    # a failed conversion leaves the output as it was, and nothing half-written
    source.write_text(json.dumps(_records(4) + [_bad(entities__end=9)]))
    with pytest.raises(ValueError, match=r"document #4"):
        convert_file(source, output, part_tokens=4)
    assert len(list(output.iterdir())) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.json", "big.spacy"]
    # a small corpus replaces the folder with one file
    source.write_text(json.dumps(_records(2)))
    assert convert_file(source, output)["spacy_files"] == 1 and output.is_file()
    # a folder that holds anything else is not replaced
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match=r"mine: a folder with other files"):
        convert_file(source, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_convert_memory_benchmark_smoke(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [
            sys.executable,
            str(repo / "benchmarks" / "convert_memory.py"),
            "--smoke",
            "--output",
            str(tmp_path / "result.json"),
        ],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    (row,) = json.loads((tmp_path / "result.json").read_text())["rows"]
    assert row["documents"] > 0 and row["spacy_files"] > 1 and row["peak_rss_mib"] > 0


def test_cached_msgpack_extensions_nests_and_restores():
    registries = (srsly_msgpack.msgpack_encoders, srsly_msgpack.msgpack_decoders)
    with cached_msgpack_extensions():
        with cached_msgpack_extensions():
            pass
        # the inner block leaves the outer cache alone
        assert all("get_all" in vars(r) for r in registries)
    assert not any("get_all" in vars(r) for r in registries)
