"""Metrics against hand-computed cases, and the scorer on spaCy Examples."""
import pytest
import spacy
from spacy.tokens import Doc
from spacy.training import Example

from spacy_stsn.annotations import make_relation, set_entities
from spacy_stsn.metrics import f1_by_entity_length, f1_by_sentence_length, prf, score_items
from spacy_stsn.scorer import breakdowns, score_relations


def test_prf_zero_division_is_zero():
    assert prf(0, 0, 0) == {"p": 0.0, "r": 0.0, "f": 0.0}
    assert prf(0, 3, 0) == {"p": 0.0, "r": 0.0, "f": 0.0}
    assert prf(0, 0, 3) == {"p": 0.0, "r": 0.0, "f": 0.0}


def test_exact_partial_wrong_type_and_duplicates():
    gold = [{(0, 2, "Peop"), (5, 6, "Loc"), (8, 9, "Org")}]
    # exact (0,2,Peop); partial boundary (5,7,Loc): no credit; wrong type (8,9,Loc): no credit;
    # the exact one predicted twice counts once (sets)
    pred = [[(0, 2, "Peop"), (0, 2, "Peop"), (5, 7, "Loc"), (8, 9, "Loc")]]
    s = score_items(gold, pred)
    # tp=1, pred=3, gold=3 -> P=R=F=1/3
    assert s["micro"] == pytest.approx({"p": 1 / 3, "r": 1 / 3, "f": 1 / 3})
    # per type: Peop 1/1,1/1 -> F 1; Loc tp 0 of pred 2, gold 1 -> 0; Org tp 0, pred 0, gold 1 -> 0
    assert s["per_type"]["Peop"]["f"] == 1.0 and s["per_type"]["Loc"]["f"] == 0.0 and s["per_type"]["Org"]["f"] == 0
    # macro over the 3 types that occur: P (1+0+0)/3, R (1+0+0)/3, F (1+0+0)/3
    assert s["macro"] == pytest.approx({"p": 1 / 3, "r": 1 / 3, "f": 1 / 3})


def test_empty_gold_and_empty_prediction():
    assert score_items([set()], [{(0, 1, "X")}])["micro"] == {"p": 0.0, "r": 0.0, "f": 0.0}
    assert score_items([{(0, 1, "X")}], [set()])["micro"] == {"p": 0.0, "r": 0.0, "f": 0.0}
    both = score_items([set()], [set()])
    assert both["micro"]["f"] == 0.0 and both["macro"]["f"] == 0.0 and both["per_type"] == {}


def test_macro_with_a_type_that_never_occurs():
    gold = [{(0, 1, "A"), (2, 3, "B")}]
    pred = [{(0, 1, "A")}]
    # occurring types A (F 1) and B (F 0) -> 0.5; with label list [A, B, C] C counts 0 -> 1/3
    assert score_items(gold, pred)["macro"]["f"] == pytest.approx(0.5)
    assert score_items(gold, pred, labels=["A", "B", "C"])["macro"]["f"] == pytest.approx(1 / 3)


def test_micro_pools_documents_and_macro_averages_types():
    gold = [{(0, 1, "A")}, {(0, 1, "B"), (1, 2, "B"), (2, 3, "B")}]
    pred = [{(0, 1, "A")}, {(0, 1, "B")}]
    s = score_items(gold, pred)
    # micro: tp 2, pred 2, gold 4 -> P 1, R 0.5, F 2/3
    assert s["micro"] == pytest.approx({"p": 1.0, "r": 0.5, "f": 2 / 3})
    # macro: A (1,1,1); B (1, 1/3, 0.5) -> P 1, R 2/3, F 0.75
    assert s["macro"] == pytest.approx({"p": 1.0, "r": 2 / 3, "f": 0.75})


def _doc(nlp, words, ents, rels):
    doc = Doc(nlp.vocab, words=words)
    set_entities(doc, ents)
    doc._.relations = [make_relation(h[:2], h[2], t[:2], t[2], label) for h, t, label in rels]
    return doc


WORDS = "Codeine intoxication in John Smith of Boston".split()


def test_scorer_re_vs_re_plus_reversed_and_overlaps():
    nlp = spacy.blank("en")
    ae, drug, peop, loc = (0, 2, "AE"), (0, 1, "Drug"), (3, 5, "Peop"), (6, 7, "Loc")
    gold = _doc(nlp, WORDS, [ae, drug, peop, loc], [(ae, drug, "Causes"), (peop, loc, "Live_In")])
    # the nested Drug is found; Peop is predicted as Org (NER error, RE ok, RE+ wrong);
    # the Causes relation is predicted reversed (no credit in either)
    org = (3, 5, "Org")
    pred = _doc(nlp, WORDS, [ae, drug, org, loc], [(drug, ae, "Causes"), (org, loc, "Live_In")])
    s = score_relations([Example(pred, gold)])
    # NER: tp 3 (AE, Drug, Loc) of 4 and 4 -> 0.75
    assert s["ents_f"] == pytest.approx(0.75)
    # RE: Live_In boundaries right -> tp 1 of 2 and 2 -> 0.5
    assert s["rel_p"] == pytest.approx(0.5) and s["rel_r"] == pytest.approx(0.5)
    # RE+: Live_In has the wrong head type -> 0
    assert s["rel_strict_f"] == 0.0
    # macro RE over types Causes (0) and Live_In (F 1) -> 0.5
    assert s["rel_macro_f"] == pytest.approx(0.5)
    assert set(s["ents_per_type"]) == {"AE", "Drug", "Loc", "Org", "Peop"}


def test_scorer_with_different_tokenization_uses_gold_boundaries():
    nlp = spacy.blank("en")
    gold = _doc(nlp, ["New", "York-based", "Acme"], [(0, 1, "Loc"), (2, 3, "Org")], [])
    # the predicted doc splits "York-based"; entity "New" and "Acme" still line up in characters
    pred = Doc(nlp.vocab, words=["New", "York", "-", "based", "Acme"], spaces=[True, False, False, True, False])
    set_entities(pred, [(0, 1, "Loc"), (4, 5, "Org"), (0, 2, "Loc")])
    s = score_relations([Example(pred, gold)])
    # tp 2, pred 3, gold 2 -> P 2/3, R 1
    assert s["ents_p"] == pytest.approx(2 / 3) and s["ents_r"] == 1.0


def test_length_breakdowns():
    gold = [{(0, 1, "A"), (2, 5, "A"), (6, 16, "A")}]
    pred = [{(0, 1, "A"), (2, 4, "A")}]
    by_len = f1_by_entity_length(gold, pred)
    # 1-2: gold {(0,1)}, pred {(0,1),(2,4)} -> P 0.5 R 1 F 2/3; 3-4: gold {(2,5)}, pred {} -> 0; 9-10: 0
    assert by_len["1-2"] == pytest.approx(2 / 3) and by_len["3-4"] == 0.0 and by_len["9-10"] == 0.0
    by_sent = f1_by_sentence_length([10, 40], [{(0, 1, "A")}, {(0, 1, "A")}], [{(0, 1, "A")}, set()])
    assert by_sent == {"0-19": 1.0, "20-34": 0.0, "35-49": 0.0, ">=50": 0.0}


def test_breakdowns_from_examples():
    nlp = spacy.blank("en")
    gold = _doc(nlp, WORDS, [(0, 2, "AE"), (3, 5, "Peop")], [((0, 2, "AE"), (3, 5, "Peop"), "R")])
    b = breakdowns([Example(gold, gold)])
    assert b["entity length"]["NER"]["1-2"] == 1.0
    assert b["sentence length"]["RE+"]["0-19"] == 1.0 and b["sentence length"]["NER"][">=50"] == 0.0
