"""The ``stsn`` factory: the name a config uses (``factory = "stsn"``, registered
through entry points), the default model, every setting with its default and what it
means, and the default score weights."""

from typing import Callable, Dict, List, Optional

from spacy.language import Language
from thinc.api import Config, Model

from ..ml.concurrency import make_model_thread_safe, make_pipeline_thread_safe
from ..ml.nested_listeners import support_nested_listeners
from ..ml.precision import set_listened_precision
from .component import STSNComponent
from .settings import DEFAULTS

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


@Language.factory(
    "stsn",
    assigns=["doc.ents", "doc.spans", "doc._.relations", "doc._.stsn_tags"],
    default_config={
        "model": DEFAULT_MODEL,
        **DEFAULTS,
        "scorer": {"@scorers": "spacy_stsn.scorer.v1"},
    },
    default_score_weights={
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
    },
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
    spans_key (str): the span group that holds every entity, gold and predicted,
        overlaps included.
    threshold (float): the paper's alpha: a relation is kept when its sigmoid reaches
        it.
    relation_thresholds (Dict[str, float]): per relation type, a threshold that
        replaces ``threshold`` for that type (``python -m spacy_stsn tune`` chooses them
        on dev); {}: ``threshold`` for every type.
    tag_scheme (str): "BIO", "extended_BIO" (two-fold overlaps, section 4.1.2) or
        "auto" (extended_BIO iff the training data has overlapping entities), resolved
        at initialize.
    overlaps (str): "flat" (predicted entities never overlap: the greedy rule of
        :mod:`spacy_stsn.pipeline.decoding` runs before pairing), "nested" (overlaps
        kept, the paper) or "auto" (flat iff the training data has no overlapping
        entities), resolved at initialize.
    nested_threshold (float): under "nested", an entity that overlaps a better-scored
        one is kept only if its score reaches this (0: every overlap, the paper).
    symmetric_relations (List[str]): relation types whose argument order carries no
        meaning, added to those the training data marks (a SpERT types file's
        ``"symmetric": true``); put in canonical order.
    entities (str): "predict" (joint extraction) or "given": at inference, take the
        entities an upstream component set (``doc.ents``, or the span group
        ``given_spans_key``) and predict only the relations among them; training is the
        same either way (gold entities, all three losses).
    given_spans_key (Optional[str]): the span group holding the given entities; None
        reads ``doc.ents``.
    neg_entity_samples (int): random non-entity spans per document in training.
    neg_relation_samples (int): random unrelated gold-entity pairs per document in
        training.
    max_batch_items (int): padded token positions per sub-batch in ``pipe`` (docs are
        grouped by length), and per chunk of windows when a document is cut into
        windows: it bounds the head's memory, whatever the length of the text.
    windows (str): where relation candidates are looked for
        (:mod:`spacy_stsn.pipeline.windows`), in training and at inference alike:
        "auto" (each sentence where the doc has sentence boundaries, a
        senter/sentencizer upstream or sentence starts from the input, else token
        windows), "tokens" (token windows whatever the sentences) or "document" (the
        whole document is one window: the paper's behaviour on its sentence-level
        inputs and this package's before windows; a long text then pairs only the
        ``max_pair_entities`` best entities of the whole text). A document no longer
        than ``window_size`` is one window in every mode.
    window_size (int): the longest window in tokens; a longer document or sentence is
        cut into token windows (128: every CoNLL04 and ADE sentence fits, the longest
        has 118 tokens).
    window_overlap (int): tokens that consecutive token windows share at least, so
        relation arguments at most ``window_overlap + 1`` tokens apart always share a
        window (32: 98 % of the CoNLL04 relations and 99 % of ADE's; with 128-token
        windows 99.9 % of them share one when the sentences are joined;
        benchmarks/README.md, "Relation distances"); at least ``max_span_width - 1``.
    precision (Optional[str]): "float32", "bfloat16" or "auto", the compute precision
        of this component's model and of the transformer it listens to
        (:mod:`spacy_stsn.ml.precision`); None leaves it to the pipeline's
        ``spacy_stsn.precision.v1`` callback, which also records its precision here, so
        that a pipeline sourcing the component (``source = ...``) keeps it.
    scorer (Optional[Callable]): the scoring method, ``spacy_stsn.scorer.v1``.
    RETURNS (STSNComponent): the component.
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
