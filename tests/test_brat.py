"""brat standoff in and out: a synthetic corpus round trip, each malformed line kind,
extract to brat."""

import json
import re
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.vocab import Vocab

from spacy_stsn.cli.main import main
from spacy_stsn.extraction.extract import extract
from spacy_stsn.formats.brat import (
    BratWriter,
    brat_to_docs,
    docs_to_brat,
    load_brat_types,
)
from spacy_stsn.pipeline.annotations import set_entities

CONF = """# a brat annotation.conf
[entities]
!Abstract
    Peop
    Loc
Org

[relations]
<ENT>=Peop|Loc|Org
Live_In  Arg1:Peop, Arg2:Loc
Work_For Arg1:Peop, Arg2:Org
OrgBased_In Arg1:Org, Arg2:<ENT>
<OVERLAP> Arg1:Loc, Arg2:Loc, <OVL-TYPE>:<ANY>

[events]
Marry Agent:Peop

[attributes]
Negation Arg:Peop
"""

# Each document: its text, then entities as (label, surface, occurrence) and relations
# as (label, head, tail) with head and tail indices into the entities. The texts have
# several sentences, a relation across sentences, \r\n line ends, nested entities,
# characters outside the BMP and combining accents (offsets count code points), and a
# .txt in a subfolder.
CORPUS = {
    "news/a": (
        "John Smith lives in New York City.\r\nHe works for Acme Corp. in York City Hall.\n",
        [
            ("Peop", "John Smith", 0),
            ("Peop", "John", 0),
            ("Loc", "New York City", 0),
            ("Loc", "York City", 0),
            ("Org", "Acme", 0),
            ("Loc", "York City Hall", 0),
        ],
        [
            ("Live_In", 0, 2),
            ("Work_For", 0, 4),
            ("OrgBased_In", 4, 5),
            ("Live_In", 1, 2),
        ],
    ),
    "b": (
        "Jose\u0301 Garci\u0301a 👍🏽 met Mary in Bogota\u0301. Mary lives in Rome.\n\nThe end.",
        [
            ("Peop", "Jose\u0301 Garci\u0301a", 0),
            ("Peop", "Mary", 0),
            ("Loc", "Bogota\u0301", 0),
            ("Peop", "Mary", 1),
            ("Loc", "Rome", 0),
        ],
        [("Live_In", 3, 4), ("Live_In", 0, 2)],
    ),
    "c": ("Nothing to see here.", [], []),
}


def _offsets(text, surface, occurrence):
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(surface, start + 1)
    return start, start + len(surface)


def write_pair(folder: Path, name: str, text: str, ann_lines):
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.txt", "w", encoding="utf8", newline="") as handle:
        handle.write(text)
    (folder / f"{name}.ann").write_text(
        "".join(line + "\n" for line in ann_lines), encoding="utf8"
    )


def t_line(n, label, text, start, end):
    return f"T{n}\t{label} {start} {end}\t{text[start:end]}"


def write_corpus(folder: Path, corpus=CORPUS):
    for name, (text, entities, relations) in corpus.items():
        # ids out of document order, as annotators create them
        lines = [
            t_line(n, label, text, *_offsets(text, surface, k))
            for n, (label, surface, k) in reversed(list(enumerate(entities, 1)))
        ]
        lines += [
            f"R{n}\t{label} Arg1:T{head + 1} Arg2:T{tail + 1}"
            for n, (label, head, tail) in enumerate(relations, 1)
        ]
        write_pair(folder, name, text, lines)


def read_folder(folder: Path):
    """{name: (text, {(label, start, end)}, {(label, head, tail)})}, parsed without
    spacy_stsn.formats.brat."""
    out = {}
    for ann in folder.rglob("*.ann"):
        name = ann.relative_to(folder).with_suffix("").as_posix()
        with open(ann.with_suffix(".txt"), encoding="utf8", newline="") as handle:
            text = handle.read()
        entities, relations = {}, set()
        for line in ann.read_text(encoding="utf8").splitlines():
            ann_id, fields = line.split("\t", 1)
            if ann_id[0] == "T":
                label_offsets, surface = fields.split("\t")
                label, start, end = label_offsets.split(" ")
                assert surface == text[int(start) : int(end)]
                entities[ann_id] = (label, int(start), int(end))
        for line in ann.read_text(encoding="utf8").splitlines():
            ann_id, fields = line.split("\t", 1)
            if ann_id[0] == "R":
                label, head, tail = fields.split()
                relations.add(
                    (label, entities[head.split(":")[1]], entities[tail.split(":")[1]])
                )
        out[name] = (text, set(entities.values()), relations)
    return out


def test_round_trip_keeps_every_entity_and_relation(tmp_path, capsys):
    write_corpus(tmp_path / "in")
    (tmp_path / "annotation.conf").write_text(CONF)
    assert (
        main(
            [
                "convert",
                str(tmp_path / "in"),
                str(tmp_path / "corpus.spacy"),
                "--types",
                str(tmp_path / "annotation.conf"),
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out.split(": ", 1)[1])
    assert (summary["documents"], summary["entities"], summary["relations"]) == (
        3,
        11,
        6,
    )
    # spaCy keeps "Bogota\u0301." one token (no suffix split after a combining mark):
    # the one entity expanded
    assert summary["expanded_entities"] == 1 and summary["examples"][
        "expanded_entities"
    ] == [f"{tmp_path / 'in' / 'b.ann'}:3"]
    assert summary["trimmed_entities"] == summary["merged_entities"] == 0
    assert (
        set(summary["skipped"].values()) == {0}
        and summary["docs_with_overlapping_entities"] == 1
    )
    docs = list(DocBin().from_disk(tmp_path / "corpus.spacy").get_docs(Vocab()))
    assert [doc.user_data["orig_id"] for doc in docs] == ["b", "c", "news/a"]
    a = docs[2]
    assert a.text == CORPUS["news/a"][0]
    assert {(e.text, e.label_) for e in a.spans["stsn"]} == {
        (s, lab) for lab, s, _ in CORPUS["news/a"][1]
    }
    # nested and crossing entities kept in the span group
    assert len(a.ents) < len(a.spans["stsn"])

    docs_to_brat(docs, tmp_path / "out")
    expected = read_folder(tmp_path / "in")
    bogota = ("Loc", *_offsets(CORPUS["b"][0], "Bogota\u0301", 0))
    expanded = (*bogota[:2], bogota[2] + 1)
    text, entities, relations = expected["b"]
    moved = {bogota: expanded}
    expected["b"] = (
        text,
        entities - {bogota} | {expanded},
        {(label, moved.get(h, h), moved.get(t, t)) for label, h, t in relations},
    )
    assert read_folder(tmp_path / "out") == expected
    for name in CORPUS:  # the texts byte for byte, \r\n included
        path = f"{name}.txt"
        assert (tmp_path / "out" / path).read_bytes() == (
            tmp_path / "in" / path
        ).read_bytes()


def test_boundaries_inside_tokens_are_expanded_and_counted(tmp_path):
    text = "Johnny Smithers moved to Washington."
    write_pair(
        tmp_path,
        "d",
        text,
        [
            t_line(1, "Peop", text, 1, 12),
            t_line(2, "Loc", text, 25, 35),
            t_line(3, "Peop", text, 0, 15),
            t_line(4, "Loc", text, 24, 35),
            "R1\tLive_In Arg1:T1 Arg2:T2",
            "R2\tLive_In Arg1:T3 Arg2:T4",
        ],
    )
    docs, summary = brat_to_docs(tmp_path, "en")
    # T1 'ohnny Smit' grows to 'Johnny Smithers' (= T3, merged); T4 ' Washington' loses
    # its space (= T2)
    assert summary["expanded_entities"] == 1 and summary["trimmed_entities"] == 1
    assert summary["merged_entities"] == 2
    assert summary["examples"]["expanded_entities"] == [f"{tmp_path / 'd.ann'}:1"]
    assert [(e.text, e.label_) for e in docs[0].spans["stsn"]] == [
        ("Johnny Smithers", "Peop"),
        ("Washington", "Loc"),
    ]
    # kept as given, both now between the merged entities
    assert len(docs[0]._.relations) == 2
    docs_to_brat(docs, tmp_path / "out")
    assert read_folder(tmp_path / "out")["d"][1] == {("Peop", 0, 15), ("Loc", 25, 35)}


def test_what_a_doc_cannot_hold_is_skipped_and_counted(tmp_path):
    text = "John married Mary in Rome and New York."
    lines = [
        t_line(1, "Peop", text, 0, 4),
        t_line(2, "Peop", text, 13, 17),
        t_line(3, "Loc", text, 21, 25),
        t_line(4, "Marry", text, 5, 12),
        "E1\tMarry:T4 Agent:T1 Agent2:T2",
        "T5\tLoc 21 25;30 33\tRome New",
        "R1\tLive_In Arg1:T1 Arg2:T3",
        "R2\tLive_In Arg1:T2 Arg2:T5",
        "R3\tLive_In Arg1:E1 Arg2:T3",
        "*\tEquiv T1 T2",
        "A1\tNegation E1",
        "M2\tConfidence T1 High",
        "N1\tReference T3 Wikipedia:25458\tRome",
        "#1\tAnnotatorNotes T1\tchecked",
    ]
    write_pair(tmp_path, "d", text, lines)
    docs, summary = brat_to_docs(tmp_path, "en")
    assert summary["skipped"] == {
        "discontinuous_entities": 1,
        "event_triggers": 1,
        "relations_to_skipped": 2,
        "events": 1,
        "equivalences": 1,
        "attributes": 2,
        "normalizations": 1,
        "notes": 1,
    }
    assert summary["examples"]["discontinuous_entities"] == [f"{tmp_path / 'd.ann'}:6"]
    assert [(e.text, e.label_) for e in docs[0].spans["stsn"]] == [
        ("John", "Peop"),
        ("Mary", "Peop"),
        ("Rome", "Loc"),
    ]
    assert [r["label"] for r in docs[0]._.relations] == ["Live_In"]


GOOD_TEXT = "John lives in Rome.  Mary too."
GOOD = [
    t_line(1, "Peop", GOOD_TEXT, 0, 4),
    t_line(2, "Loc", GOOD_TEXT, 14, 18),
    "R1\tLive_In Arg1:T1 Arg2:T2",
    "A1\tNegation T1",
]
MALFORMED = [
    ("T3 Peop 0 4 John", r"expected an id and a tab"),
    ("\tPeop 0 4\tJohn", r"expected an id and a tab"),
    ("X1\tPeop 0 4\tJohn", r"unknown annotation id 'X1'"),
    ("T1\tPeop 0 4\tJohn", r"id T1 is already defined on line 1"),
    ("R1\tLive_In Arg1:T1 Arg2:T2", r"id R1 is already defined on line 3"),
    ("T3\tPeop 0 4", r"a T line is 'ID<tab>TYPE START END<tab>TEXT'"),
    ("T3\tPeop\tJohn", r"a T line is"),
    ("T3\tPeop 0 x\tJohn", r"offsets '0 x' are not 'START END' pairs of integers"),
    ("T3\tPeop -1 4\tJohn", r"offsets '-1 4' are not 'START END' pairs"),
    ("T3\tPeop 0 4;5\tJohn", r"offsets '0 4;5' are not 'START END' pairs"),
    (
        "T3\tPeop 4 4\t",
        r"offsets 4 4 are empty, reversed or beyond the text's 30 characters",
    ),
    ("T3\tPeop 4 0\tJohn", r"offsets 4 0 are empty, reversed"),
    (
        "T3\tPeop 26 31\ttoo.",
        r"offsets 26 31 are empty, reversed or beyond the text's 30 characters",
    ),
    (
        "T3\tPeop 0 4\tJohm",
        r"the entity's text 'Johm' differs from the \.txt at 0 4: 'John'",
    ),
    ("T3\tPeop 19 21\t  ", r"the entity at 19 21 covers no token, only whitespace"),
    ("R2\tLive_In T1 T2", r"an R line is 'ID<tab>LABEL Arg1:ID Arg2:ID'"),
    ("R2\tLive_In Arg1:T1", r"an R line is"),
    (
        "R2\tLive_In Arg1:T1 Arg2:T9",
        r"the relation's argument T9 is not an entity or event of the file",
    ),
    (
        "R2\tLive_In Arg1:T1 Arg2:A1",
        r"the relation's argument A1 is not an entity or event",
    ),
    ("R2\tLive_In Arg1:T2 Arg1:T1", r"the role Arg1 is given twice"),
    ("E1\tMarry", r"an E line is 'ID<tab>TYPE:TRIGGER"),
    ("E1\tMarry:T9 Agent:T1", r"the event's trigger T9 is not a T line of the file"),
    (
        "T3\tPerson 0 4\tJohn",
        r"entity T3 has the unknown type 'Person' \(types file: \['Peop', 'Loc', 'Org'\]\)",
    ),
    ("R2\tLives Arg1:T1 Arg2:T2", r"relation R2 has the unknown type 'Lives'"),
]


@pytest.mark.parametrize("line,message", MALFORMED, ids=[m for _, m in MALFORMED])
def test_each_malformed_line_kind_names_file_and_line(tmp_path, line, message):
    write_pair(tmp_path / "in", "ok", GOOD_TEXT, GOOD)
    write_pair(tmp_path / "in", "bad", GOOD_TEXT, GOOD + [line])
    (tmp_path / "annotation.conf").write_text(CONF)
    where = str(tmp_path / "in" / "bad.ann") + ":5: "
    with pytest.raises(ValueError, match="^" + where.replace(".", r"\.") + message):
        brat_to_docs(
            tmp_path / "in", "en", *load_brat_types(tmp_path / "annotation.conf")
        )


def test_bad_files_and_the_command_line_errors(tmp_path, capsys):
    write_pair(tmp_path / "in", "ok", GOOD_TEXT, GOOD)
    (tmp_path / "in" / "lonely.txt").write_text("No annotations.")
    assert main(["convert", str(tmp_path / "in"), str(tmp_path / "x.spacy")]) == 1
    err = capsys.readouterr().err
    assert (
        f"{tmp_path / 'in' / 'lonely.txt'} has no .ann beside it (1 such files" in err
    )
    assert "Traceback" not in err
    assert not (tmp_path / "x.spacy").exists()
    (tmp_path / "in" / "lonely.ann").write_bytes(b"T1\tPeop 0 2\t\xff\n")
    with pytest.raises(ValueError, match=r"lonely\.ann: not UTF-8"):
        brat_to_docs(tmp_path / "in")
    with pytest.raises(ValueError, match=r"not a brat annotation\.conf"):
        (tmp_path / "empty.conf").write_text(
            "[relations]\nLive_In Arg1:Peop, Arg2:Loc\n"
        )
        load_brat_types(tmp_path / "empty.conf")
    assert (
        main(
            [
                "convert",
                str(tmp_path / "empty.conf"),
                str(tmp_path / "x.spacy"),
                "--format",
                "brat",
            ]
        )
        == 1
    )
    assert "not a folder of brat .txt and .ann files" in capsys.readouterr().err
    assert (
        main(
            ["convert", str(tmp_path / "in"), str(tmp_path / "x.spacy"), "--lang", "zz"]
        )
        == 1
    )
    assert "zz: could not load a tokenizer" in capsys.readouterr().err


def test_whitespace_at_entity_edges_is_trimmed_off(tmp_path):
    """A double space or a blank line is a token of its own in spaCy: an entity never
    starts or ends on one."""
    text = "He lives in  Paris now.\n\nBoston\n\nis big."
    paris, boston = text.index(" Paris"), text.index("Boston")
    write_pair(
        tmp_path,
        "d",
        text,
        [
            t_line(1, "Loc", text, paris, paris + len(" Paris")),
            f"T2\tLoc {boston} {boston + 8}\tBoston  ",  # 'Boston\n\n', flattened
            t_line(3, "Loc", text, paris + 1, paris + 4),  # 'Par': widened, not trimmed
        ],
    )
    docs, summary = brat_to_docs(tmp_path, "en")
    assert [t.text for t in docs[0]][3] == " "  # the second space is a token
    assert [(e.text, e.label_) for e in docs[0].spans["stsn"]] == [
        ("Paris", "Loc"),
        ("Boston", "Loc"),
    ]
    assert summary["trimmed_entities"] == 2 and summary["expanded_entities"] == 1
    assert summary["examples"]["trimmed_entities"] == [
        f"{tmp_path / 'd.ann'}:{n}" for n in (1, 2)
    ]


def test_byte_order_marks(tmp_path):
    """brat reads a .txt with Python's utf8 codec, which keeps a BOM as character 0, so
    .ann offsets count it; the Doc's text leaves it out. A BOM before an .ann or
    annotation.conf is no part of the first line."""
    text = "John Smith lives in Rome."
    with open(tmp_path / "d.txt", "w", encoding="utf8", newline="") as handle:
        handle.write("\ufeff" + text)
    lines = [
        "T1\tPeop 1 11\tJohn Smith",
        "T2\tLoc 21 25\tRome",
        "R1\tLive_In Arg1:T1 Arg2:T2",
    ]
    (tmp_path / "d.ann").write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    (tmp_path / "annotation.conf").write_text(CONF, encoding="utf-8-sig")
    labels = load_brat_types(tmp_path / "annotation.conf")
    assert labels == (["Peop", "Loc", "Org"], ["Live_In", "Work_For", "OrgBased_In"])
    docs, summary = brat_to_docs(tmp_path, "en", *labels)
    doc = docs[0]
    assert doc.text == text and doc[0].text == "John"
    assert [(e.text, e.label_) for e in doc.spans["stsn"]] == [
        ("John Smith", "Peop"),
        ("Rome", "Loc"),
    ]
    assert [(r.head.text, r.tail.text) for r in doc._.relation_spans] == [
        ("John Smith", "Rome")
    ]
    assert summary["expanded_entities"] == summary["trimmed_entities"] == 0
    # written back without the mark, the offsets are those of the text as written
    docs_to_brat(docs, tmp_path / "out")
    assert read_folder(tmp_path / "out")["d"][1] == {("Peop", 0, 10), ("Loc", 20, 24)}


def test_a_types_file_that_is_neither_json_nor_conf_names_itself(tmp_path):
    (tmp_path / "types.txt").write_text(CONF)
    with pytest.raises(
        ValueError,
        match=r"^"
        + str(tmp_path / "types.txt").replace(".", r"\.")
        + r": not valid JSON "
        r"\(.*\); expected a SpERT types file, a JSON object with objects 'entities' and "
        r"'relations' \(a brat annotation\.conf is read as one when its name ends in \.conf\)",
    ):
        load_brat_types(tmp_path / "types.txt")


def _blank_doc(text):
    return spacy.blank("en").make_doc(text)


@pytest.mark.parametrize(
    "first,second", [("x", "./x"), ("a/b", "a//b"), ("q/./r", "q/r")]
)
def test_brat_ids_naming_one_file_are_an_error_naming_both(tmp_path, first, second):
    source = tmp_path / "in.jsonl"
    with BratWriter(tmp_path / "out", source) as writer:
        writer.write(_blank_doc("First."), {"id": first})
        with pytest.raises(
            ValueError,
            match=re.escape(
                f"{source}:2: the id '{second}' names the same file "
                f"({first.replace('/./', '/')}.txt) as the id '{first}' on line 1"
            ),
        ):
            writer.write(_blank_doc("Second."), {"id": second})
    written = sorted(
        p.relative_to(tmp_path / "out").as_posix()
        for p in (tmp_path / "out").rglob("*.*")
    )
    name = "/".join(part for part in first.split("/") if part not in ("", "."))
    assert written == [f"{name}.ann", f"{name}.txt"]
    assert (tmp_path / "out" / f"{name}.txt").read_text() == "First."  # not overwritten
    docs = [_blank_doc("First."), _blank_doc("Second.")]
    with pytest.raises(
        ValueError, match=r"#0 'First\.' and .*#1 'Second\.' would overwrite"
    ):
        docs_to_brat(docs, tmp_path / "out2", names=[first, second])
    assert not (tmp_path / "out2").exists()  # checked before anything is written


@pytest.mark.parametrize("name", ["trail/", "", ".", "x/.", "./"])
def test_a_brat_id_that_names_no_file_is_an_error(tmp_path, name):
    source = tmp_path / "in.jsonl"
    with BratWriter(tmp_path / "out", source) as writer:
        with pytest.raises(
            ValueError,
            match=re.escape(f"{source}:1: {name!r} cannot name a brat document"),
        ):
            writer.write(_blank_doc("Text."), {"id": name})
    with pytest.raises(
        ValueError, match=rf"document #0 'Text\.': {name!r} cannot name"
    ):
        docs_to_brat([_blank_doc("Text.")], tmp_path / "out2", names=[name])
    assert list((tmp_path / "out").iterdir()) == []


def test_types_from_spert_json_and_annotation_conf(tmp_path):
    (tmp_path / "annotation.conf").write_text(CONF)
    assert load_brat_types(tmp_path / "annotation.conf") == (
        ["Peop", "Loc", "Org"],
        ["Live_In", "Work_For", "OrgBased_In"],
    )
    (tmp_path / "types.json").write_text(
        json.dumps({"entities": {"Peop": {}}, "relations": {"Live_In": {}}})
    )
    assert load_brat_types(tmp_path / "types.json") == (["Peop"], ["Live_In"])


def test_writing_refuses_what_brat_cannot_hold(tmp_path):
    write_pair(tmp_path / "in", "ok", GOOD_TEXT, GOOD)
    docs, _ = brat_to_docs(tmp_path / "in")
    with pytest.raises(
        ValueError, match=r"#0 .* and .*#1 .* would overwrite each other"
    ):
        docs_to_brat(docs * 2, tmp_path / "out", names=["x", "x"])
    with pytest.raises(ValueError, match=r"'\.\./x' cannot name a brat document"):
        docs_to_brat(docs, tmp_path / "out", names=["../x"])
    docs[0]._.relations = []
    set_entities(docs[0], [(0, 1, "Two words")])
    with pytest.raises(
        ValueError, match=r"orig_id=ok #0 .*the label 'Two words' cannot be a brat type"
    ):
        docs_to_brat(docs, tmp_path / "out")


def test_extract_writes_brat_that_convert_reads_back(trained, tmp_path, capsys):
    nlp, model_dir, _ = trained
    texts = [
        "John Smith lives in Boston .",
        "Mary Jones works for Acme Corp. in Rome .\nShe lives in Rome .",
        "",
        "Rome is in Italy .",
    ]
    source = tmp_path / "in.jsonl"
    records = [{"text": t, "id": f"doc-{i}"} for i, t in enumerate(texts)]
    del records[2]["id"]  # named by its line number
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "brat"
    assert (
        main(
            [
                "extract",
                str(model_dir),
                str(source),
                "-o",
                str(out),
                "--output-format",
                "brat",
                "--batch-size",
                "2",
            ]
        )
        == 0
    )
    names = ["doc-0", "doc-1", "000003", "doc-3"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{n}.{s}" for n in names for s in ("ann", "txt")
    )

    docs, summary = brat_to_docs(out, nlp)
    by_name = {doc.user_data["orig_id"]: doc for doc in docs}
    assert sum(summary["skipped"].values()) == summary["expanded_entities"] == 0
    expected = [nlp(t) for t in texts]
    for name, want in zip(names, expected):
        got = by_name[name]
        assert got.text == want.text
        assert [(e.start, e.end, e.label_) for e in got.spans["stsn"]] == sorted(
            (e.start, e.end, e.label_) for e in want.spans["stsn"]
        )
        assert sorted(
            json.dumps(dict(r, score=1.0), sort_keys=True) for r in got._.relations
        ) == sorted(
            json.dumps(dict(r, score=1.0), sort_keys=True) for r in want._.relations
        )
    assert any(doc._.relations for doc in docs), (
        "the trained pipeline should predict relations"
    )
    # the command line, with the pipeline's own tokenizer
    assert (
        main(
            [
                "convert",
                str(out),
                str(tmp_path / "back.spacy"),
                "--model",
                str(model_dir),
            ]
        )
        == 0
    )
    assert (
        f'"documents": 4, "tokens": {sum(len(d) for d in expected)}'
        in capsys.readouterr().out
    )

    # resumable: a rerun continues at the first document without its .ann
    (out / "000003.ann").unlink()
    (out / "doc-3.txt").write_text("stale")
    assert (
        extract(str(model_dir), source, out, output_format="brat", progress=None) == 2
    )
    assert (out / "doc-3.txt").read_text() == texts[3] and (
        out / "000003.ann"
    ).read_text() == ""
    assert (
        extract(str(model_dir), source, out, output_format="brat", progress=None) == 0
    )
    assert (
        extract(
            str(model_dir),
            source,
            out,
            output_format="brat",
            progress=None,
            restart=True,
        )
        == 4
    )

    source.write_text("".join(json.dumps(r) + "\n" for r in records[:2] + records[:1]))
    with pytest.raises(
        ValueError, match=r"in\.jsonl:3: the id 'doc-0' was already used on line 1"
    ):
        extract(
            str(model_dir),
            source,
            tmp_path / "dup",
            output_format="brat",
            progress=None,
        )
    assert sorted(p.name for p in (tmp_path / "dup").iterdir()) == [
        "doc-0.ann",
        "doc-0.txt",
        "doc-1.ann",
        "doc-1.txt",
    ]
    source.write_text(json.dumps({"text": "x", "id": "/etc/x"}) + "\n")
    with pytest.raises(
        ValueError, match=r"in\.jsonl:1: '/etc/x' cannot name a brat document"
    ):
        extract(
            str(model_dir),
            source,
            tmp_path / "abs",
            output_format="brat",
            progress=None,
        )
