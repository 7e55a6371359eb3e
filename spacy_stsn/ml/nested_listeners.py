"""``nlp.replace_listeners`` for a listener nested inside the features layer.

In the shipped configs the transformer listener sits at ``model.tok2vec.tok2vec``,
inside ``spacy_stsn.FeatureTok2Vec.v1``. ``nlp.replace_listeners("transformer", "stsn",
["model.tok2vec.tok2vec"])`` replaces the listener layer with a copy of the transformer
and rewrites the config at that path with the transformer's
``model.attrs["replace_listener_cfg"]``, which spacy-transformers uses to turn a
``TransformerModel`` into a ``Tok2VecTransformer.v3`` carrying the listener's
``pooling`` and ``grad_factor``. But spaCy hands that function the config at
``model.tok2vec`` whatever the path, here the features layer's, which is no listener: so
the config got a bare ``TransformerModel`` without the pooling, the pipeline saved, and
``spacy.load`` failed ("mismatched structure").

:func:`support_nested_listeners` wraps that function of every transformer in a pipeline
so that it is given the listener's own config, found by descending through the features
layer's ``tok2vec``. The ``stsn`` factory applies it to the pipeline it joins.
"""

from typing import Any, Callable, Dict

from spacy.language import Language

from .features import FEATURE_TOK2VEC

REPLACE_CONFIG = "replace_listener_cfg"
# the architectures that hold the listener in their "tok2vec" argument
WRAPPERS = (FEATURE_TOK2VEC,)


class NestedListenerConfig:
    """``replace_listener_cfg`` given the listener's config under the features layer;
    a class, so that a model holding it can be copied and pickled."""

    def __init__(self, replace: Callable[[Dict, Dict], Dict]) -> None:
        self.replace = replace

    def __call__(self, tok2vec_cfg: Dict[str, Any], listener_cfg: Dict[str, Any]):
        while listener_cfg.get("@architectures") in WRAPPERS:
            listener_cfg = listener_cfg["tok2vec"]
        return self.replace(tok2vec_cfg, listener_cfg)


def support_nested_listeners(nlp: Language) -> None:
    """Wrap the ``replace_listener_cfg`` of every component model of ``nlp`` that has
    one (spacy-transformers' transformers), once.

    nlp (Language): the pipeline.
    """
    for _, component in nlp.components:
        attrs = getattr(getattr(component, "model", None), "attrs", {})
        replace = attrs.get(REPLACE_CONFIG)
        if callable(replace) and not isinstance(replace, NestedListenerConfig):
            attrs[REPLACE_CONFIG] = NestedListenerConfig(replace)
