"""The metrics against hand-computed cases, and the scorer on spaCy ``Example`` objects.

Every expected number is worked out in the comment next to it: tp = correct predictions,
and P = tp / predicted, R = tp / gold, F = 2PR / (P + R), each 0 when its denominator is
0.
"""

from typing import List, Sequence, Tuple

import pytest
import spacy
from spacy.tokens import Doc
from spacy.training import Example

from spacy_stsn.evaluation.metrics import (
    entity_item,
    f1_by_entity_length,
    f1_by_sentence_length,
    prf,
    relation_item,
    score_items,
    strict_relation_item,
)
from spacy_stsn.evaluation.scorer import (
    aligned_offsets,
    breakdowns,
    example_items,
    make_stsn_scorer,
    score_relations,
)
from spacy_stsn.pipeline.annotations import make_relation, set_entities

ZERO = {"p": 0.0, "r": 0.0, "f": 0.0}


# -- metrics
# --------------------------------------------------------------------------------------
def test_prf_divisions_by_zero_give_zero():
    # nothing to find, nothing predicted: F 0 (sklearn zero_division=0, as SpERT)
    assert prf(0, 0, 0) == ZERO
    assert prf(0, 3, 0) == ZERO
    assert prf(0, 0, 3) == ZERO
    # tp 1 of 4 predicted, 2 gold: P 0.25, R 0.5, F 2*0.125/0.75 = 1/3
    assert prf(1, 4, 2) == pytest.approx({"p": 0.25, "r": 0.5, "f": 1 / 3})


def test_exact_match():
    items = [{(0, 2, "Peop"), (5, 6, "Loc")}]
    s = score_items(items, [set(items[0])])
    assert s["micro"] == s["macro"] == {"p": 1.0, "r": 1.0, "f": 1.0}
    assert s["per_type"] == {
        "Loc": {"p": 1.0, "r": 1.0, "f": 1.0},
        "Peop": {"p": 1.0, "r": 1.0, "f": 1.0},
    }


def test_partial_boundaries_and_wrong_type_get_no_credit():
    gold = [
        {entity_item(0, 2, "Peop"), entity_item(5, 6, "Loc"), entity_item(8, 9, "Org")}
    ]
    # exact (0,2,Peop); (0,1,Peop) and (5,7,Loc) overlap gold but have other boundaries;
    # (8,9,Loc) has the wrong type
    pred = [
        {
            entity_item(0, 2, "Peop"),
            entity_item(0, 1, "Peop"),
            entity_item(5, 7, "Loc"),
            entity_item(8, 9, "Loc"),
        }
    ]
    s = score_items(gold, pred)
    # tp 1 of 4 predicted, 3 gold: P 1/4, R 1/3, F 2*(1/12)/(7/12) = 2/7
    assert s["micro"] == pytest.approx({"p": 0.25, "r": 1 / 3, "f": 2 / 7})
    # Peop tp 1 of pred 2, gold 1: P 1/2, R 1, F 2/3; Loc tp 0 of pred 2, gold 1; Org tp
    # 0 of pred 0, gold 1
    assert s["per_type"]["Peop"] == pytest.approx({"p": 0.5, "r": 1.0, "f": 2 / 3})
    assert s["per_type"]["Loc"] == s["per_type"]["Org"] == ZERO
    assert s["counts"]["Loc"] == {"tp": 0, "pred": 2, "gold": 1}
    # macro over the 3 occurring types: P (1/2+0+0)/3 = 1/6, R (1+0+0)/3 = 1/3, F
    # (2/3+0+0)/3 = 2/9
    assert s["macro"] == pytest.approx({"p": 1 / 6, "r": 1 / 3, "f": 2 / 9})


def test_duplicate_predictions_count_once():
    gold = [[(0, 1, "A"), (2, 3, "A")]]
    pred = [[(0, 1, "A"), (0, 1, "A"), (0, 1, "A")]]
    # as sets: pred {(0,1,A)}: tp 1 of 1 predicted, 2 gold: P 1, R 1/2, F 2/3 (not P 1/3
    # or tp 3)
    assert score_items(gold, pred)["micro"] == pytest.approx(
        {"p": 1.0, "r": 0.5, "f": 2 / 3}
    )
    # duplicated gold counts once as well: gold {(0,1,A)}, pred {(0,1,A)} -> 1, 1, 1
    assert score_items([[(0, 1, "A")] * 2], [[(0, 1, "A")]])["micro"] == {
        "p": 1.0,
        "r": 1.0,
        "f": 1.0,
    }


def test_empty_gold_empty_prediction_both_empty_and_no_documents():
    # empty gold: P 0/1 = 0, R 0/0 -> 0, F 0; the predicted type is still a type
    # (per-type all 0)
    s = score_items([set()], [{(0, 1, "X")}])
    assert s["micro"] == s["macro"] == ZERO and s["per_type"] == {"X": ZERO}
    # empty prediction: P 0/0 -> 0, R 0/1 = 0, F 0
    s = score_items([{(0, 1, "X")}], [set()])
    assert s["micro"] == s["macro"] == ZERO and s["counts"]["X"] == {
        "tp": 0,
        "pred": 0,
        "gold": 1,
    }
    # both empty: F 0 by choice (SpERT/sklearn), no NaN, no types to average over ->
    # macro 0
    for s in (score_items([set(), set()], [set(), set()]), score_items([], [])):
        assert s["micro"] == s["macro"] == ZERO and s["per_type"] == {}
    # both empty but with a label list: every listed type is 0
    assert score_items([set()], [set()], labels=["A", "B"])["per_type"] == {
        "A": ZERO,
        "B": ZERO,
    }


def test_document_count_mismatch_is_an_error():
    with pytest.raises(ValueError, match="2 gold documents but 1 predicted"):
        score_items([set(), set()], [set()])


def test_macro_with_a_type_that_never_occurs():
    gold = [{(0, 1, "A"), (2, 3, "B")}]
    pred = [{(0, 1, "A")}]
    # occurring types only: A (1, 1, 1), B (0, 0, 0) -> macro P 1/2, R 1/2, F 1/2
    assert score_items(gold, pred)["macro"] == pytest.approx(
        {"p": 0.5, "r": 0.5, "f": 0.5}
    )
    # label list [A, B, C]: C never occurs and counts 0 -> P, R, F = (1+0+0)/3 = 1/3
    s = score_items(gold, pred, labels=["A", "B", "C"])
    assert s["macro"] == pytest.approx({"p": 1 / 3, "r": 1 / 3, "f": 1 / 3})
    assert list(s["per_type"]) == ["A", "B", "C"] and s["per_type"]["C"] == ZERO
    # micro does not depend on the label list: tp 1 of 1 predicted, 2 gold -> P 1, R
    # 1/2, F 2/3
    assert (
        s["micro"]
        == score_items(gold, pred)["micro"]
        == pytest.approx({"p": 1.0, "r": 0.5, "f": 2 / 3})
    )


def test_label_list_does_not_drop_an_occurring_type():
    gold = [{(0, 1, "A"), (2, 3, "B")}]
    pred = [{(0, 1, "A"), (2, 3, "B")}]
    # B is missing from the list but occurs: it is still averaged (A 1, B 1, C 0 ->
    # 2/3), listed types first
    s = score_items(gold, pred, labels=["C", "A"])
    assert list(s["per_type"]) == ["C", "A", "B"]
    assert s["macro"]["f"] == pytest.approx(2 / 3)


def test_micro_pools_documents_macro_averages_types():
    gold = [{(0, 1, "A")}, {(0, 1, "B"), (1, 2, "B"), (2, 3, "B")}]
    pred = [{(0, 1, "A")}, {(0, 1, "B"), (5, 6, "B")}]
    s = score_items(gold, pred)
    # micro: tp 2 of 3 predicted, 4 gold: P 2/3, R 1/2, F 2*(1/3)/(7/6) = 4/7
    assert s["micro"] == pytest.approx({"p": 2 / 3, "r": 0.5, "f": 4 / 7})
    # A: 1, 1, 1; B: tp 1 of 2, 3 -> P 1/2, R 1/3, F 2*(1/6)/(5/6) = 2/5 macro: P
    # (1+1/2)/2 = 3/4, R (1+1/3)/2 = 2/3, F (1+2/5)/2 = 7/10 (mean of F1s, not F1 of 3/4
    # and 2/3 = 12/17)
    assert s["macro"] == pytest.approx({"p": 0.75, "r": 2 / 3, "f": 0.7})


def test_an_item_only_matches_within_its_document():
    # the same item predicted in the other document: tp 0 of 1, 1 gold -> 0
    assert score_items([{(0, 1, "A")}, set()], [set(), {(0, 1, "A")}])["micro"] == ZERO


def test_relations_re_vs_re_plus_and_direction():
    peop, org, loc = (0, 2), (3, 4), (6, 7)
    gold_re = [
        {relation_item(peop, loc, "Live_In"), relation_item(peop, org, "Work_For")}
    ]
    gold_strict = [
        {
            strict_relation_item(peop, "Peop", loc, "Loc", "Live_In"),
            strict_relation_item(peop, "Peop", org, "Org", "Work_For"),
        }
    ]
    # Live_In right but its head typed Org; Work_For predicted reversed (org -> peop)
    pred_re = [
        {relation_item(peop, loc, "Live_In"), relation_item(org, peop, "Work_For")}
    ]
    pred_strict = [
        {
            strict_relation_item(peop, "Org", loc, "Loc", "Live_In"),
            strict_relation_item(org, "Org", peop, "Peop", "Work_For"),
        }
    ]
    # RE ignores entity types: Live_In correct, reversed Work_For not: tp 1 of 2, 2 ->
    # 1/2 each
    assert score_items(gold_re, pred_re)["micro"] == pytest.approx(
        {"p": 0.5, "r": 0.5, "f": 0.5}
    )
    # RE+ needs the head type too: tp 0 -> 0
    assert score_items(gold_strict, pred_strict)["micro"] == ZERO
    # per relation type (the item's last element): RE Live_In 1, Work_For 0 -> macro F
    # 1/2
    assert score_items(gold_re, pred_re)["macro"]["f"] == pytest.approx(0.5)


def test_f1_by_entity_length():
    gold = [{(0, 1, "A"), (2, 5, "A"), (6, 16, "A"), (20, 31, "A")}, {(0, 2, "B")}]
    pred = [{(0, 1, "A"), (2, 4, "A"), (6, 16, "A")}, {(0, 2, "B"), (3, 10, "B")}]
    # lengths: gold 1, 3, 10, 11 (in no bucket) | 2; pred 1, 2, 10 | 2, 7
    # 1-2: gold {(0,1)}, {(0,2)}; pred {(0,1),(2,4)}, {(0,2)}: tp 2 of 3, 2 -> P 2/3, R
    # 1, F 4/5
    # 3-4: gold (2,5), no pred -> 0;  5-6: nothing -> 0;  7-8: pred (3,10) only -> 0;
    # 9-10: (6,16) both -> 1
    assert f1_by_entity_length(gold, pred) == pytest.approx(
        {"1-2": 0.8, "3-4": 0.0, "5-6": 0.0, "7-8": 0.0, "9-10": 1.0}
    )


def test_f1_by_sentence_length():
    # lengths at the bucket edges: 19 | 20 and 34 | 35 | 49 and 50 are all in different
    # buckets
    lengths = [19, 20, 34, 49, 50]
    gold = [
        {(0, 1, "A")},
        {(0, 1, "A")},
        {(0, 1, "A")},
        {(0, 1, "A")},
        {(0, 1, "A"), (2, 3, "A")},
    ]
    pred = [{(0, 1, "A")}, {(0, 1, "A")}, set(), {(1, 2, "A")}, {(0, 1, "A")}]
    # 0-19: doc 0 -> 1;  20-34: docs 1, 2: tp 1 of 1, 2 -> P 1, R 1/2, F 2/3;  35-49:
    # doc 3 -> 0
    # >=50: doc 4: tp 1 of 1, 2 -> 2/3
    assert f1_by_sentence_length(lengths, gold, pred) == pytest.approx(
        {"0-19": 1.0, "20-34": 2 / 3, "35-49": 0.0, ">=50": 2 / 3}
    )
    with pytest.raises(ValueError):
        f1_by_sentence_length([10], gold, pred)


# -- scorer on Examples
# --------------------------------------------------------------------------------------
Ent = Tuple[int, int, str]


def _doc(
    nlp,
    words: Sequence[str],
    ents: Sequence[Ent],
    rels: Sequence[Tuple[Ent, Ent, str]] = (),
    spaces: Sequence[bool] = None,
) -> Doc:
    doc = Doc(
        nlp.vocab, words=list(words), spaces=None if spaces is None else list(spaces)
    )
    set_entities(doc, ents)
    doc._.relations = [
        make_relation(h[:2], h[2], t[:2], t[2], label) for h, t, label in rels
    ]
    return doc


WORDS = "Codeine intoxication in John Smith of Boston".split()
AE, DRUG, PEOP, LOC = (0, 2, "AE"), (0, 1, "Drug"), (3, 5, "Peop"), (6, 7, "Loc")
KEYS = {
    f"{prefix}_{m}"
    for prefix in ("ents", "rel", "rel_strict")
    for m in ("p", "r", "f", "macro_p", "macro_r", "macro_f", "per_type")
}


@pytest.fixture
def nlp():
    return spacy.blank("en")


def test_scorer_keys_and_perfect_prediction_with_overlapping_entities(nlp):
    gold = _doc(
        nlp,
        WORDS,
        [AE, DRUG, PEOP, LOC],
        [(AE, DRUG, "Causes"), (PEOP, LOC, "Live_In")],
    )
    pred = _doc(
        nlp,
        WORDS,
        [AE, DRUG, PEOP, LOC],
        [(AE, DRUG, "Causes"), (PEOP, LOC, "Live_In")],
    )
    # doc.ents keeps only one of the nested AE/Drug; the span group keeps both and is
    # what is scored
    assert len(pred.ents) == 3 and len(pred.spans["stsn"]) == 4
    s = score_relations([Example(pred, gold)])
    assert set(s) == KEYS
    assert all(s[k] == 1.0 for k in KEYS if not k.endswith("per_type"))
    assert set(s["ents_per_type"]) == {"AE", "Drug", "Peop", "Loc"}
    assert s["rel_strict_per_type"] == {
        "Causes": {"p": 1.0, "r": 1.0, "f": 1.0},
        "Live_In": {"p": 1.0, "r": 1.0, "f": 1.0},
    }


def test_scorer_ner_re_re_plus_and_reversed_relation(nlp):
    gold = _doc(
        nlp,
        WORDS,
        [AE, DRUG, PEOP, LOC],
        [(AE, DRUG, "Causes"), (PEOP, LOC, "Live_In")],
    )
    # the nested Drug is found; Peop is typed Org (NER error; RE right, RE+ wrong);
    # Causes is reversed; a duplicated relation record counts once
    org = (3, 5, "Org")
    pred = _doc(
        nlp,
        WORDS,
        [AE, DRUG, org, LOC],
        [(DRUG, AE, "Causes"), (org, LOC, "Live_In"), (org, LOC, "Live_In")],
    )
    s = score_relations([Example(pred, gold)])
    # NER: tp 3 (AE, Drug, Loc) of 4 predicted, 4 gold -> 3/4 each
    assert (s["ents_p"], s["ents_r"], s["ents_f"]) == pytest.approx((0.75, 0.75, 0.75))
    # NER macro over AE 1, Drug 1, Loc 1, Org 0 (pred 1, gold 0), Peop 0 (pred 0, gold
    # 1) -> 3/5 each
    assert (s["ents_macro_p"], s["ents_macro_r"], s["ents_macro_f"]) == pytest.approx(
        (0.6, 0.6, 0.6)
    )
    # RE: Live_In right (boundaries), Causes reversed: tp 1 of 2, 2 -> 1/2
    assert (s["rel_p"], s["rel_r"], s["rel_f"]) == pytest.approx((0.5, 0.5, 0.5))
    # RE macro: Causes 0, Live_In 1 -> 1/2
    assert s["rel_macro_f"] == pytest.approx(0.5)
    # RE+: Live_In has the wrong head type -> nothing right
    assert (s["rel_strict_p"], s["rel_strict_r"], s["rel_strict_f"]) == (0.0, 0.0, 0.0)
    assert s["rel_strict_macro_f"] == 0.0


def test_scorer_labels_widen_macro_and_unknown_kwargs_are_ignored(nlp):
    gold = _doc(nlp, WORDS, [PEOP, LOC], [(PEOP, LOC, "Live_In")])
    pred = _doc(nlp, WORDS, [PEOP, LOC], [(PEOP, LOC, "Live_In")])
    scorer = spacy.registry.scorers.get("spacy_stsn.scorer.v1")()
    assert scorer is score_relations and make_stsn_scorer() is score_relations
    s = scorer(
        [Example(pred, gold)],
        spans_key="stsn",
        entity_labels=["Peop", "Loc", "Org", "Other"],
        relation_labels=["Live_In", "Work_For"],
        nlp=nlp,
        something_else=1,
    )
    # NER: Peop 1, Loc 1, Org 0, Other 0 -> macro 2/4; micro still 1
    assert s["ents_macro_f"] == pytest.approx(0.5) and s["ents_f"] == 1.0
    # RE and RE+: Live_In 1, Work_For 0 -> 1/2
    assert s["rel_macro_f"] == pytest.approx(0.5) and s[
        "rel_strict_macro_f"
    ] == pytest.approx(0.5)
    assert s["rel_per_type"]["Work_For"] == ZERO


def test_scorer_falls_back_to_doc_ents_and_handles_empty_docs(nlp):
    gold = Doc(nlp.vocab, words=WORDS)
    # no span group: doc.ents is used
    gold.set_ents([gold.char_span(0, 7, label="Drug")])
    pred = _doc(nlp, WORDS, [DRUG, PEOP])
    # tp 1 (Drug) of 2, 1 -> P 1/2, R 1, F 2/3; no relations anywhere -> 0, no error
    s = score_relations([Example(pred, gold)])
    assert (s["ents_p"], s["ents_r"], s["ents_f"]) == pytest.approx((0.5, 1.0, 2 / 3))
    assert s["rel_f"] == 0.0 and s["rel_per_type"] == {}
    empty = score_relations(
        [Example(Doc(nlp.vocab, words=[]), Doc(nlp.vocab, words=[]))]
    )
    assert all(empty[k] == 0.0 for k in KEYS if not k.endswith("per_type"))
    assert score_relations([])["ents_f"] == 0.0


def test_scorer_pools_examples(nlp):
    gold1 = _doc(nlp, WORDS, [PEOP, LOC], [(PEOP, LOC, "Live_In")])
    gold2 = _doc(nlp, WORDS, [AE, DRUG], [(AE, DRUG, "Causes")])
    pred1 = _doc(nlp, WORDS, [PEOP, LOC], [(PEOP, LOC, "Live_In")])
    pred2 = _doc(nlp, WORDS, [], [])
    s = score_relations([Example(pred1, gold1), Example(pred2, gold2)])
    # NER micro: tp 2 of 2, 4 -> P 1, R 1/2, F 2/3; macro: Peop 1, Loc 1, AE 0, Drug 0
    # -> P, R, F 1/2
    assert (s["ents_p"], s["ents_r"], s["ents_f"]) == pytest.approx((1.0, 0.5, 2 / 3))
    assert (s["ents_macro_p"], s["ents_macro_r"], s["ents_macro_f"]) == pytest.approx(
        (0.5, 0.5, 0.5)
    )
    # RE+: tp 1 of 1, 2 -> 1, 1/2, 2/3; macro Live_In 1, Causes 0 -> 1/2
    assert (s["rel_strict_p"], s["rel_strict_r"], s["rel_strict_f"]) == pytest.approx(
        (1.0, 0.5, 2 / 3)
    )
    assert s["rel_strict_macro_f"] == pytest.approx(0.5)


def test_aligned_offsets_on_different_tokenization(nlp):
    ref = Doc(nlp.vocab, words=["New", "York-based", "Acme"])
    pred = Doc(
        nlp.vocab,
        words=["New", "York", "-", "based", "Acme"],
        spaces=[True, False, False, True, False],
    )
    eg = Example(pred, ref)
    assert aligned_offsets(eg, 0, 1) == (0, 1)  # "New"
    assert aligned_offsets(eg, 1, 4) == (1, 2)  # "York-based"
    assert aligned_offsets(eg, 0, 4) == (0, 2)  # "New York-based"
    assert aligned_offsets(eg, 4, 5) == (2, 3)  # "Acme"
    # "York" ends inside the reference token "York-based"
    assert aligned_offsets(eg, 1, 2) is None
    assert aligned_offsets(eg, 2, 4) is None  # "-based" starts inside it
    # whitespace may differ: "New\nYork" (with a "\n" token) is the reference's "New
    # York" (spaCy's get_aligned_spans_x2y rejects it because it only strips spaces when
    # comparing texts)
    ref = Doc(nlp.vocab, words=["New", "York", "is"], spaces=[True, True, False])
    pred = Doc(
        nlp.vocab, words=["New", "\n", "York", "is"], spaces=[False, False, True, False]
    )
    eg = Example(pred, ref)
    assert aligned_offsets(eg, 0, 3) == (0, 2)
    assert aligned_offsets(eg, 1, 2) is None  # only whitespace
    assert aligned_offsets(eg, 3, 4) == (2, 3)


def test_scorer_with_different_tokenization(nlp):
    ref_words = ["Smith", "lives", "in", "New", "York-based", "Acme", "."]
    loc, smith, acme = (3, 5, "Loc"), (0, 1, "Peop"), (5, 6, "Org")
    gold = _doc(
        nlp,
        ref_words,
        [smith, loc, acme],
        [(smith, acme, "Work_For"), (smith, loc, "Live_In")],
    )
    # the pipeline splits "York-based", so "New York-based" is (3, 7) in its tokens and
    # its (3, 5) is "New York", which raw offsets would wrongly match with the gold (3,
    # 5)
    words = ["Smith", "lives", "in", "New", "York", "-", "based", "Acme", "."]
    spaces = [True, True, True, True, False, False, True, False, False]
    p_smith, p_loc, p_acme, p_york = (
        (0, 1, "Peop"),
        (3, 7, "Loc"),
        (7, 8, "Org"),
        (3, 5, "Loc"),
    )
    pred = _doc(
        nlp,
        words,
        [p_smith, p_loc, p_acme, p_york],
        [(p_smith, p_acme, "Work_For"), (p_smith, p_york, "Live_In")],
        spaces=spaces,
    )
    eg = Example(pred, gold)
    g, p = example_items(eg)
    # "New York" ends inside the reference token "York-based": kept (a false positive),
    # shifted by half a token
    assert p.entities == {
        (0, 1, "Peop"),
        (3, 5, "Loc"),
        (5, 6, "Org"),
        (3.5, 5.5, "Loc"),
    }
    assert g.entities == {(0, 1, "Peop"), (3, 5, "Loc"), (5, 6, "Org")}
    s = score_relations([eg])
    # NER: tp 3 of 4 predicted, 3 gold -> P 3/4, R 1, F 2*(3/4)/(7/4) = 6/7
    assert (s["ents_p"], s["ents_r"], s["ents_f"]) == pytest.approx((0.75, 1.0, 6 / 7))
    # RE and RE+: Work_For right, Live_In's tail misaligned: tp 1 of 2, 2 -> 1/2
    assert (s["rel_p"], s["rel_r"], s["rel_f"]) == pytest.approx((0.5, 0.5, 0.5))
    assert s["rel_strict_f"] == pytest.approx(0.5)


def test_breakdowns_from_examples(nlp):
    words: List[str] = WORDS + ["x"] * 13  # 20 tokens: bucket 20-34
    gold = _doc(nlp, words, [AE, PEOP, (8, 11, "Loc")], [(AE, PEOP, "R")])
    pred = _doc(nlp, words, [AE, (3, 4, "Peop"), (8, 11, "Loc")], [(AE, PEOP, "R")])
    b = breakdowns([Example(pred, gold)])
    # lengths: gold AE 2, Peop 2, Loc 3; pred AE 2, Peop 1 (wrong boundary), Loc 3
    # 1-2: tp 1 (AE) of 2, 2 -> 1/2;  3-4: Loc -> 1;  others empty -> 0
    assert b["entity length"] == {
        "NER": pytest.approx(
            {"1-2": 0.5, "3-4": 1.0, "5-6": 0.0, "7-8": 0.0, "9-10": 0.0}
        )
    }
    # 20 tokens: NER tp 2 of 3, 3 -> 2/3; RE the relation's boundaries right -> 1; RE+
    # too -> 1
    assert b["sentence length"] == {
        "NER": pytest.approx({"0-19": 0.0, "20-34": 2 / 3, "35-49": 0.0, ">=50": 0.0}),
        "RE": {"0-19": 0.0, "20-34": 1.0, "35-49": 0.0, ">=50": 0.0},
        "RE+": {"0-19": 0.0, "20-34": 1.0, "35-49": 0.0, ">=50": 0.0},
    }
