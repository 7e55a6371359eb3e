"""Lexical features beside the transformer: ``spacy_stsn.FeatureTok2Vec.v1``, a token
encoder for ``STSN.v1``.

A small or uncased encoder does not see what decides much of an entity's type and
boundary: letter case (all-MiniLM-L6-v2 lowercases, so "Bush" and "bush" are one input),
affixes, digits and punctuation. This encoder concatenates the transformer listener's
pooled output with spaCy's own lexical features of each token, read from spaCy's tokens
and not from the encoder's word pieces, so it helps any encoder, cased or not:
``MultiHashEmbed`` over ``NORM``, ``PREFIX``, ``SUFFIX`` and ``SHAPE`` (the shape
carries the case), optionally a ``CharacterEmbed`` of each token's first and last bytes,
through a small ``MaxoutWindowEncoder``. They are spaCy's building blocks
(``spacy.MultiHashEmbed.v2``, ``spacy.CharacterEmbed.v2``,
``spacy.MaxoutWindowEncoder.v2``, ``spacy.Tok2Vec.v2``) joined by thinc's
``concatenate``; every array goes through the model's ops, so it runs on a GPU as on a
CPU.

The output width (``nO``) is declared at initialize, the transformer's width plus the
features', so the head's ``hidden_width = null`` follows it. ``features = false``
returns the wrapped encoder itself: the paper's setting, one setting away
(``--components.stsn.model.tok2vec.features false``).
"""

from typing import List, Optional

from spacy.ml.models.tok2vec import (
    CharacterEmbed,
    MaxoutWindowEncoder,
    MultiHashEmbed,
    build_Tok2Vec_model,
)
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model, concatenate
from thinc.layers.concatenate import forward as concatenate_forward
from thinc.types import Floats2d

FEATURE_TOK2VEC = "spacy_stsn.FeatureTok2Vec.v1"
LEXICAL_ATTRS = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
LEXICAL_ROWS = [5000, 1000, 2500, 2500]


@registry.architectures(FEATURE_TOK2VEC)
def build_feature_tok2vec(
    tok2vec: Model[List[Doc], List[Floats2d]],
    features: bool = True,
    width: int = 64,
    attrs: List[str] = LEXICAL_ATTRS,
    rows: List[int] = LEXICAL_ROWS,
    depth: int = 2,
    window_size: int = 1,
    maxout_pieces: int = 3,
    n_characters: int = 0,
    character_width: int = 16,
) -> Model[List[Doc], List[Floats2d]]:
    """``tok2vec`` (a transformer listener, or any token encoder) beside lexical
    features of ``width`` from ``MultiHashEmbed`` over ``attrs`` (one hash table of
    ``rows`` each), plus, with ``n_characters`` > 0, a ``CharacterEmbed`` of that many
    UTF-8 bytes per token (half from each end, ``character_width`` each, with a ``NORM``
    table of ``rows[0]``) of the same width; the features go through a
    ``MaxoutWindowEncoder`` of ``depth`` layers over ``window_size`` tokens on each
    side.

    tok2vec (Model[List[Doc], List[Floats2d]]): the token encoder.
    features (bool): whether to add the features; False returns ``tok2vec``.
    width (int): the features' width.
    attrs (List[str]): the lexical attributes embedded.
    rows (List[int]): the hash table rows of each attribute.
    depth (int): the window encoder's layers.
    window_size (int): the tokens on each side the window encoder sees.
    maxout_pieces (int): the window encoder's maxout pieces.
    n_characters (int): UTF-8 bytes per token for ``CharacterEmbed``; 0: none.
    character_width (int): the width of each byte's embedding.
    RETURNS (Model[List[Doc], List[Floats2d]]): the encoder.
    """
    if not features:
        return tok2vec
    if width < 1 or depth < 0 or n_characters < 0:
        raise ValueError(
            f"FeatureTok2Vec: width must be >= 1, depth and n_characters >= 0, not width={width}, "
            f"depth={depth}, n_characters={n_characters}"
        )
    embed = MultiHashEmbed(width, attrs, rows, include_static_vectors=False)
    if n_characters:
        characters = CharacterEmbed(
            width,
            rows[0],
            character_width,
            n_characters,
            include_static_vectors=False,
            feature="NORM",
        )
        embed = concatenate(embed, characters)
    feature_width = width * (2 if n_characters else 1)
    lexical = build_Tok2Vec_model(
        embed, MaxoutWindowEncoder(feature_width, window_size, maxout_pieces, depth)
    )
    lexical.set_dim("nO", feature_width)
    return Model(
        "stsn_feature_tok2vec",
        concatenate_forward,
        init=init,
        dims={"nO": None},
        layers=[tok2vec, lexical],
        refs={"tok2vec": tok2vec, "features": lexical},
    )


def init(
    model: Model, X: Optional[List[Doc]] = None, Y: Optional[List[Floats2d]] = None
) -> None:
    """Initialize both encoders and declare ``nO``: the features' width plus the wrapped
    encoder's, its own ``nO`` (a transformer listener gets it when the transformer is
    initialized) or else measured on ``X``.

    model (Model): the feature tok2vec.
    X (Optional[List[Doc]]): sample docs.
    Y (Optional[List[Floats2d]]): unused.
    """
    tok2vec, lexical = model.get_ref("tok2vec"), model.get_ref("features")
    tok2vec.initialize(X=X)
    lexical.initialize(X=X)
    if tok2vec.has_dim("nO"):
        width = tok2vec.get_dim("nO")
    elif X:
        width = int(tok2vec.predict(X[:1])[0].shape[1])
    else:
        return
    model.set_dim("nO", width + lexical.get_dim("nO"))
