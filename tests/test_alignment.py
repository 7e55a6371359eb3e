"""The two senses of "the same tokens" (spacy_stsn.pipeline.alignment): the scorer
compares spans when the words match, the training targets skip alignment only when the
tokenization matches too."""

import spacy
from spacy.tokens import Doc

from spacy_stsn.pipeline.alignment import same_tokenization, same_words


def test_same_words_with_other_whitespace_are_not_the_same_tokenization():
    vocab = spacy.blank("en").vocab
    gold = Doc(vocab, words=["New", "York", "."], spaces=[True, False, False])
    spaced = Doc(vocab, words=["New", "York", "."], spaces=[True, True, False])
    assert same_words(spaced, gold) and not same_tokenization(spaced, gold)
    assert same_words(gold, gold) and same_tokenization(gold, gold)


def test_another_cut_of_the_same_text_is_neither():
    vocab = spacy.blank("en").vocab
    gold = Doc(vocab, words=["New", "York"], spaces=[True, False])
    other = Doc(vocab, words=["New", "Yo", "rk"], spaces=[True, False, False])
    assert gold.text == other.text
    assert not same_words(other, gold) and not same_tokenization(other, gold)
