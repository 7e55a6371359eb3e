"""The ``stsn`` factory: the name a config uses (``factory = "stsn"``, registered
through entry points), the default model, the settings' defaults (from
:class:`~spacy_stsn.pipeline.settings.STSNSettings`) and the default score weights."""

from typing import Callable, Dict, List, Optional

from spacy.language import Language
from thinc.api import Config, Model

from ..ml.concurrency import make_model_thread_safe, make_pipeline_thread_safe
from ..ml.nested_listeners import support_nested_listeners
from ..ml.precision import set_listened_precision
from .component import STSNComponent
from .settings import STSNSettings, settings_docstring

DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "spacy_stsn.STSN.v1"
hidden_width = null
n_layers = 3
n_heads = 8
width_embedding = 150
max_span_width = 10
interaction = "bi"
dropout = 0.1
max_pair_entities = 100
learn_rate_scale = 1.0
attention_window = 128

[model.tok2vec]
@architectures = "spacy.Tok2Vec.v2"

[model.tok2vec.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 96
attrs = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
rows = [5000, 1000, 2500, 2500]
include_static_vectors = false

[model.tok2vec.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = 96
depth = 4
window_size = 1
maxout_pieces = 3
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]
# what spacy train selects the best model by: NER F1 and strict RE+ F1, equally
DEFAULT_SCORE_WEIGHTS = {
    "ents_f": 0.5,
    "rel_strict_f": 0.5,
    "ents_p": 0.0,
    "ents_r": 0.0,
    "rel_f": 0.0,
    "rel_strict_p": 0.0,
    "rel_strict_r": 0.0,
    "ents_macro_f": None,
    "rel_macro_f": None,
    "rel_strict_macro_f": None,
}


@Language.factory(
    "stsn",
    assigns=["doc.ents", "doc.spans", "doc._.relations", "doc._.stsn_tags"],
    default_config={
        "model": DEFAULT_MODEL,
        **STSNSettings.defaults(),
        "scorer": {"@scorers": "spacy_stsn.scorer.v1"},
    },
    default_score_weights=DEFAULT_SCORE_WEIGHTS,
)
def make_stsn(
    nlp: Language,
    name: str,
    model: Model,
    spans_key: str,
    threshold: float,
    relation_thresholds: Dict[str, float],
    tag_scheme: str,
    overlaps: str,
    nested_threshold: float,
    symmetric_relations: List[str],
    entities: str,
    given_spans_key: Optional[str],
    neg_entity_samples: int,
    neg_relation_samples: int,
    max_batch_items: int,
    windows: str,
    window_size: int,
    window_overlap: int,
    precision: Optional[str],
    scorer: Optional[Callable],
) -> "STSNComponent":
    """Joint entity and relation extraction (STSN).

    nlp (Language): the pipeline the component is added to.
    name (str): the component's name, in its error messages.
    model (Model): the network, ``spacy_stsn.STSN.v1`` over a tok2vec or a transformer
        listener.
    scorer (Optional[Callable]): the scoring method, ``spacy_stsn.scorer.v1``.
    RETURNS (STSNComponent): the component.

    The other arguments are the component's settings, each described with its type,
    default and allowed values by :class:`spacy_stsn.pipeline.settings.STSNSettings`
    (and in docs/settings.md; the list below is generated from it).
    """
    # the transformer it listens to (created before it) and its own model predict
    # safely from several threads (spacy_stsn.ml.concurrency), and its listener can be
    # replaced inside the features layer (spacy_stsn.ml.nested_listeners)
    make_pipeline_thread_safe(nlp)
    make_model_thread_safe(model)
    support_nested_listeners(nlp)
    if precision is not None:
        set_listened_precision(nlp, model, precision)
    return STSNComponent(
        nlp.vocab,
        model,
        name,
        spans_key=spans_key,
        threshold=threshold,
        relation_thresholds=relation_thresholds,
        tag_scheme=tag_scheme,
        overlaps=overlaps,
        nested_threshold=nested_threshold,
        symmetric_relations=symmetric_relations,
        entities=entities,
        given_spans_key=given_spans_key,
        neg_entity_samples=neg_entity_samples,
        neg_relation_samples=neg_relation_samples,
        max_batch_items=max_batch_items,
        windows=windows,
        window_size=window_size,
        window_overlap=window_overlap,
        precision=precision,
        scorer=scorer,
    )


make_stsn.__doc__ += settings_docstring()
