"""Tokens with no word pieces: a whitespace run ("\\n", "  "), a zero-width space or a
control character is a token of its own in spaCy, and the encoder's tokenizer maps it to
no piece at all. Thinc's ``reduce_max`` (the paper's Align Module), ``reduce_first`` and
``reduce_last`` refuse a token without pieces (``all sequence lengths must be > 0``);
``reduce_mean`` and ``reduce_sum`` give it the zero vector.

:func:`make_pooling_total` makes every pooling of word pieces in a model give such a
token the zero vector, whatever the pooling: in one vectorised step over the batch, each
token without pieces gets one zero row, which the pooling reduces like any other (the
gradient of that row is dropped). The pooling layers stay the nodes they were, with
their names, parameters and place in the model, so a pipeline saved before (its config
names thinc's ``reduce_max.v1``) loads as it did and is covered too:
``spacy_stsn.STSN.v1`` applies this to its ``tok2vec`` when it is built.

The zero vector says "no text the encoder sees here"; the head's lexical features
(:mod:`spacy_stsn.ml.features`) still see the token, and such a token never starts, ends
or forms an entity (:mod:`spacy_stsn.pipeline.boundaries`).
"""

from typing import Callable, Tuple

import numpy
from thinc.api import Model
from thinc.types import Floats2d, Ragged

# the spacy-transformers layer that pools the word pieces of each token, as its
# TransformerListener.v1 and Tok2VecTransformer.v1-v3 build it: its one layer is the
# pooling
PIECES_TO_TOKENS = "trfs2arrays"


def make_pooling_total(model: Model) -> Model:
    """Make the pooling of every ``trfs2arrays`` layer in ``model`` give a token with no
    word pieces the zero vector (in place, once per layer).

    model (Model): a tok2vec, listener or any model containing them.
    RETURNS (Model): ``model``.
    """
    for node in model.walk():
        if node.name == PIECES_TO_TOKENS and node.layers:
            pooling = node.layers[0]
            if not isinstance(pooling._func, TotalPooling):
                pooling._func = TotalPooling(pooling._func)
    return model


class TotalPooling:
    """A pooling layer's forward that also takes tokens with no pieces: each gets one
    zero row before ``forward`` pools. A class rather than a closure, so that a model
    holding it can still be copied and pickled."""

    def __init__(self, forward: Callable) -> None:
        self.forward = forward

    def __call__(
        self, model: Model, X: Ragged, is_train: bool
    ) -> Tuple[Floats2d, Callable]:
        padded, rows = pad_empty(model, X)
        Y, backprop_pooling = self.forward(model, padded, is_train)

        def backprop(dY: Floats2d) -> Ragged:
            return Ragged(backprop_pooling(dY).dataXd[rows], X.lengths)

        return Y, backprop


def pad_empty(model: Model, X: Ragged) -> Tuple[Ragged, Floats2d]:
    """``X`` with one zero row for each sequence of length 0, and where ``X``'s rows
    went: (padded ragged, row indices). The index arithmetic runs on the lengths' own
    array module (the host for spacy-transformers' alignments).

    model (Model): the pooling layer.
    X (Ragged): the word pieces of each token.
    RETURNS (Tuple[Ragged, Floats2d]): the padded ragged and the row indices.
    """
    xp_lengths = numpy if isinstance(X.lengths, numpy.ndarray) else model.ops.xp
    lengths = X.lengths
    empty = (lengths == 0).astype("int32")
    # each row moves down by the number of empty sequences before its own
    shift = xp_lengths.cumsum(empty) - empty
    rows = xp_lengths.arange(int(X.dataXd.shape[0])) + xp_lengths.repeat(shift, lengths)
    data = X.dataXd
    padded = model.ops.alloc2f(
        data.shape[0] + int(empty.sum()), data.shape[1], dtype=data.dtype
    )
    rows = model.ops.asarray1i(rows)
    padded[rows] = data
    return Ragged(padded, xp_lengths.maximum(lengths, 1).astype(lengths.dtype)), rows
