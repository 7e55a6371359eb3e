"""Whether two Docs of one text share their tokens, in the two senses the callers need:
the same words (token offsets name the same words in both) or the same tokenization
(the same characters cut at the same places)."""

from spacy.tokens import Doc


def same_words(predicted: Doc, reference: Doc) -> bool:
    """Whether the two docs have the same words, token by token; the whitespace between
    them may differ.

    predicted (Doc): the doc a pipeline annotated.
    reference (Doc): the gold doc.
    RETURNS (bool): True when a ``(start, end)`` token span names the same words in
        both, so that predicted and gold spans compare as they are (the scorer and the
        threshold sweep; the benchmarks' setting).
    """
    return [t.text for t in predicted] == [t.text for t in reference]


def same_tokenization(predicted: Doc, reference: Doc) -> bool:
    """Whether the two docs are the same text cut into the same tokens (spaCy's
    ``gold_preproc`` case), checked on the characters and the tokens' start offsets.

    predicted (Doc): the doc the model sees in training.
    reference (Doc): the gold doc.
    RETURNS (bool): True when gold annotations need no alignment at all; else the
        training targets map them through spaCy's alignment.
    """
    return (
        len(predicted) == len(reference)
        and predicted.text == reference.text
        and bool((predicted.to_array("IDX") == reference.to_array("IDX")).all())
    )
