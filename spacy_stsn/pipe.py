"""The ``stsn`` pipeline component: the pipe interface only; the work lives in modules of its own.

Gold entities come from ``doc.spans[spans_key]`` (or ``doc.ents``) and relations from ``doc._.relations``
(:mod:`spacy_stsn.annotations`); :mod:`spacy_stsn.targets` turns them into training targets and losses, the
network (:mod:`spacy_stsn.stsn_torch`, wrapped by :mod:`spacy_stsn.model`) scores spans and pairs, and
:mod:`spacy_stsn.decoding` turns its outputs into the annotations written back in the same representation.
"""

from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Tuple,
)

import srsly
from spacy import util
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer, set_dropout_rate

from .annotations import given_entities, make_relation, set_entities
from .decoding import decode_batch, nested_threshold, resolve_overlaps
from .labels import Labels, Span3
from .model import Decoding, build_head, given_spans, set_head_dropout, torch_module
from .settings import DEFAULTS, check_settings, restore_learned
from .stsn_torch import Extraction
from .targets import (
    TargetSettings,
    Targets,
    check_label_data,
    label_data,
    make_targets,
    stsn_loss,
)

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


class Prediction(NamedTuple):
    """What ``predict`` hands to ``set_annotations``: the network's outputs for the non-empty docs and, with
    ``entities = "given"``, the entities they were given (per doc, read once, in ``predict``)."""

    outputs: Extraction
    given: Optional[List[List[Span3]]] = None


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
    tag_scheme: str,
    overlaps: str,
    nested_threshold: float,
    symmetric_relations: List[str],
    entities: str,
    given_spans_key: Optional[str],
    neg_entity_samples: int,
    neg_relation_samples: int,
    max_batch_items: int,
    scorer: Optional[Callable],
) -> "STSNComponent":
    """Joint entity and relation extraction (STSN).

    model (Model): the network, ``spacy_stsn.STSN.v1`` over a tok2vec or a transformer listener.
    spans_key (str): span group that holds every entity, gold and predicted, overlaps included.
    threshold (float): the paper's alpha: a relation is kept when its sigmoid reaches it.
    tag_scheme (str): "BIO", "extended_BIO" (two-fold overlaps, section 4.1.2) or "auto" (extended_BIO iff
        the training data has overlapping entities), resolved at initialize.
    overlaps (str): "flat" (predicted entities never overlap: the greedy rule of
        :mod:`spacy_stsn.decoding` runs before pairing), "nested" (overlaps kept, the paper) or "auto" (flat iff
        the training data has no overlapping entities), resolved at initialize.
    nested_threshold (float): under "nested", an entity that overlaps a better-scored one is kept only if its
        score reaches this (0: every overlap, the paper).
    symmetric_relations (List[str]): relation types whose argument order carries no meaning, added to those
        the training data marks (a SpERT types file's ``"symmetric": true``); put in canonical order.
    entities (str): "predict" (joint extraction) or "given": at inference, take the entities an upstream
        component set (``doc.ents``, or the span group ``given_spans_key``) and predict only the relations among
        them; training is the same either way (gold entities, all three losses).
    given_spans_key (Optional[str]): the span group holding the given entities; None reads ``doc.ents``.
    neg_entity_samples (int): random non-entity spans per document in training.
    neg_relation_samples (int): random unrelated gold-entity pairs per document in training.
    max_batch_items (int): padded token positions per sub-batch in ``pipe`` (docs are grouped by length).
    scorer (Optional[Callable]): the scoring method, ``spacy_stsn.scorer.v1``.
    RETURNS (STSNComponent): the component.
    """
    return STSNComponent(
        nlp.vocab,
        model,
        name,
        spans_key=spans_key,
        threshold=threshold,
        tag_scheme=tag_scheme,
        overlaps=overlaps,
        nested_threshold=nested_threshold,
        symmetric_relations=symmetric_relations,
        entities=entities,
        given_spans_key=given_spans_key,
        neg_entity_samples=neg_entity_samples,
        neg_relation_samples=neg_relation_samples,
        max_batch_items=max_batch_items,
        scorer=scorer,
    )


class STSNComponent(TrainablePipe):
    """Trainable STSN component; see :func:`make_stsn` for the settings."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "stsn",
        *,
        scorer: Optional[Callable] = None,
        **settings: Any,
    ) -> None:
        """Create the component; ``settings`` are the factory's (:func:`make_stsn`), checked and defaulted by
        :func:`spacy_stsn.settings.check_settings`."""
        cfg = check_settings(settings)
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        symmetric = sorted(cfg.pop("symmetric_relations"))
        labels = {"entities": [], "relations": [], "tags": [], "symmetric": symmetric}
        self.cfg: Dict[str, Any] = {
            "labels": labels,
            **cfg,
            "input_width": None,
            "data_overlaps": None,
        }

    # -- labels and settings ---------------------------------------------------------------------
    @property
    def labels(self) -> Tuple[str, ...]:
        """Entity labels (what ``spacy init labels`` and ``nlp.pipe_labels`` show)."""
        return tuple(self.cfg["labels"]["entities"])

    @property
    def relation_labels(self) -> Tuple[str, ...]:
        """Relation types, in the order of the relation decoder's outputs."""
        return self.label_set.relations

    @property
    def symmetric_labels(self) -> Tuple[str, ...]:
        """Relation types whose argument order carries no meaning."""
        return self.label_set.symmetric

    @property
    def label_set(self) -> Labels:
        """The label sets the network's outputs are indexed by: entities, relation types (``.relations``),
        tags and the symmetric relation types (``.symmetric``)."""
        return Labels.from_data(self.cfg["labels"])

    @property
    def label_data(self) -> Dict[str, List[str]]:
        """Everything ``initialize(labels=...)`` takes back (``spacy init labels`` writes it)."""
        return {key: list(values) for key, values in self.cfg["labels"].items()}

    @property
    def spans_key(self) -> str:
        return self.cfg["spans_key"]

    @property
    def overlaps(self) -> str:
        """The overlap policy in force: "flat" or "nested" (``auto`` resolved from the training data; a model
        saved before the setting existed decodes as it always did, nested)."""
        return resolve_overlaps(self.cfg["overlaps"], self.cfg["data_overlaps"])

    def add_label(self, label: str) -> int:
        """Add an entity label before ``initialize`` (labels are fixed once the model is built).

        label (str): the entity label.
        RETURNS (int): 1 if it was added, 0 if it was there already.
        """
        if self.cfg["input_width"] is not None:
            raise ValueError(
                f"[{self.name}] cannot add label {label!r}: the model is already initialized"
            )
        if label in self.cfg["labels"]["entities"]:
            return 0
        self.cfg["labels"]["entities"].append(label)
        return 1

    # -- initialize ------------------------------------------------------------------------------
    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Dict[str, List[str]]] = None,
    ) -> None:
        """Learn the label sets, resolve ``tag_scheme`` and ``overlaps`` from the data, and build the network.

        get_examples (Callable[[], Iterable[Example]]): the training examples.
        nlp (Language): the pipeline (unused).
        labels (Dict[str, List[str]]): label data from ``spacy init labels`` (``entities``, ``relations``,
            optionally ``tags`` and ``symmetric``), instead of the labels found in the examples.
        """
        validate_get_examples(get_examples, f"{self.name}.initialize")
        examples = list(get_examples())
        found, self.cfg["tag_scheme"], self.cfg["data_overlaps"] = label_data(
            examples, self.spans_key, self.cfg["tag_scheme"], self.cfg["labels"], labels
        )
        self.cfg["labels"] = found
        check_label_data(found, self.cfg, self.overlaps, self.name)
        sample = [eg.predicted for eg in examples if len(eg.predicted)][:10]
        self.model.attrs["labels"] = self.cfg["labels"]
        self.model.initialize(X=(sample, None))
        self.cfg["input_width"] = torch_module(self.model).dims[0]

    # -- predict ---------------------------------------------------------------------------------
    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """Annotate a stream of docs, predicting on sub-batches of similar length (``max_batch_items`` padded
        positions each), as spacy-transformers' ``Transformer.pipe`` does.

        stream (Iterable[Doc]): the docs.
        batch_size (int): docs read from the stream at a time.
        YIELDS (Doc): the annotated docs, in order.
        """
        # a hard dependency, imported when first needed
        from spacy_transformers.util import batch_by_length

        for outer in util.minibatch(stream, size=batch_size):
            outer = list(outer)
            for indices in batch_by_length(outer, self.cfg["max_batch_items"]):
                sub = [outer[i] for i in indices]
                self.set_annotations(sub, self.predict(sub))
            yield from outer

    def predict(self, docs: Iterable[Doc]) -> Optional[Prediction]:
        """Run the network on the docs as one batch, padded to the longest (``pipe`` groups docs by length).

        docs (Iterable[Doc]): the docs to predict.
        RETURNS (Optional[Prediction]): the network's outputs for the non-empty docs, in order, and their given
            entities with ``entities = "given"`` (None if all docs are empty).
        """
        docs = [doc for doc in docs if len(doc)]
        if not docs:
            return None
        decoding = Decoding(
            nested_threshold(self.overlaps, self.cfg["nested_threshold"])
        )
        if self.cfg["entities"] != "given":
            return Prediction(self.model.predict((docs, decoding)))
        given = [
            given_entities(doc, self.cfg["given_spans_key"], self.labels, self.name)
            for doc in docs
        ]
        decoding.given = given_spans(self.model.ops, given)
        return Prediction(self.model.predict((docs, decoding)), given)

    def set_annotations(
        self, docs: Iterable[Doc], predictions: Optional[Prediction]
    ) -> None:
        """Write entities (span group and ``doc.ents``), relations and tags decoded from ``predictions``; with
        given entities, the span group gets them and ``doc.ents`` is left as the upstream component set it.

        docs (Iterable[Doc]): the docs given to ``predict``.
        predictions (Optional[Prediction]): what ``predict`` returned for them.
        """
        docs = list(docs)
        given = self.cfg["entities"] == "given"
        for doc in docs:
            set_entities(doc, [], spans_key=self.spans_key, ents=not given)
            doc._.relations = []
            doc._.stsn_tags = None
        if predictions is None:
            return
        docs = [doc for doc in docs if len(doc)]
        outputs = Extraction(*(self.model.ops.to_numpy(o) for o in predictions.outputs))
        decoded = decode_batch(
            outputs,
            self.label_set,
            [len(doc) for doc in docs],
            self.cfg["threshold"],
            predictions.given,
        )
        for doc, pred in zip(docs, decoded):
            set_entities(
                doc,
                pred.entities,
                scores=pred.scores,
                spans_key=self.spans_key,
                ents=not given,
            )
            doc._.relations = [make_relation(*rel) for rel in pred.relations]
            doc._.stsn_tags = pred.tags

    # -- training --------------------------------------------------------------------------------
    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: Optional[float] = None,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """One step on the sum of the tagging, span and relation losses (Eq. 18).

        examples (Iterable[Example]): the batch.
        drop (Optional[float]): the dropout rate (``[training] dropout``); None keeps the architecture's.
        sgd (Optional[Optimizer]): the optimizer; None leaves the gradients for a later ``finish_update``.
        losses (Optional[Dict[str, float]]): the loss is added to ``losses[name]``.
        RETURNS (Dict[str, float]): ``losses``.
        """
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = [eg for eg in examples if len(eg.predicted)]
        validate_examples(examples, f"{self.name}.update")
        if not examples:
            return losses
        if drop is not None:
            set_dropout_rate(self.model, drop)
        set_head_dropout(self.model, drop)
        targets = make_targets(examples, self._target_settings(), self.model.ops.xp)
        outputs, backprop = self.model.begin_update(
            ([eg.predicted for eg in examples], targets.candidates)
        )
        loss, gradients = self.get_loss(examples, (outputs, targets))
        backprop(gradients)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def get_loss(
        self, examples: Iterable[Example], scores: Tuple[Tuple, Targets]
    ) -> Tuple[float, Tuple]:
        """The loss of a batch and its gradients with respect to the network's logits.

        examples (Iterable[Example]): the batch.
        scores (Tuple[Tuple, Targets]): the network's training outputs and the targets they were computed for.
        RETURNS (Tuple[float, Tuple]): the loss and the gradients of the tag, span and relation logits.
        """
        outputs, targets = scores
        return stsn_loss(self.model.ops, outputs, targets)

    def _target_settings(self) -> TargetSettings:
        cfg, width = self.cfg, self.model.attrs["max_span_width"]
        negatives = (cfg["neg_entity_samples"], cfg["neg_relation_samples"])
        return TargetSettings(
            self.label_set,
            self.spans_key,
            cfg["tag_scheme"],
            width,
            *negatives,
            self.name,
        )

    # -- scoring and serialization ---------------------------------------------------------------
    def score(self, examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        """NER, RE and RE+ scores (``spacy_stsn.scorer.v1``), symmetric types matched in either order.

        examples (Iterable[Example]): predicted and gold docs.
        RETURNS (Dict[str, Any]): the scores.
        """
        validate_examples(examples, f"{self.name}.score")
        return self.scorer(
            examples,
            spans_key=self.spans_key,
            symmetric_labels=self.symmetric_labels,
            **kwargs,
        )

    def from_bytes(
        self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()
    ) -> "STSNComponent":
        """Load what ``to_bytes`` saved: the learned labels first, which size the network, then its weights."""
        msg = srsly.msgpack_loads(bytes_data)
        if "cfg" not in exclude:
            self._load_cfg(srsly.json_loads(msg["cfg"]))
        if "vocab" in msg and "vocab" not in exclude:
            self.vocab.from_bytes(msg["vocab"], exclude=exclude)
        if "model" not in exclude:
            self._load_model(msg["model"], "<bytes>")
        return self

    def from_disk(
        self, path: Path, *, exclude: Iterable[str] = tuple()
    ) -> "STSNComponent":
        """Load what ``to_disk`` saved, as :meth:`from_bytes`; a missing part is an error naming ``path``."""
        path = util.ensure_path(path)
        if not (path / "cfg").exists() or not (path / "model").exists():
            raise ValueError(
                f"[{self.name}] {path} is not a saved stsn component: 'cfg' or 'model' is missing"
            )
        if "cfg" not in exclude:
            self._load_cfg(srsly.read_json(path / "cfg"))
        if "model" not in exclude:
            self._load_model((path / "model").read_bytes(), str(path / "model"))
        return self

    def _load_cfg(self, saved: Dict[str, Any]) -> None:
        """Take what initialize learned from ``saved`` (settings come from the config, so they can be changed
        at load time) and size the network for it."""
        restore_learned(self.cfg, saved)
        labels = self.model.attrs["labels"] = self.cfg["labels"]
        if self.cfg.get("input_width"):
            sizes = (len(labels[key]) for key in ("entities", "relations", "tags"))
            build_head(self.model, self.cfg["input_width"], *sizes)

    def _load_model(self, data: bytes, where: str) -> None:
        try:
            self.model.from_bytes(data)
        except Exception as err:
            # a truncated or foreign file: say which one, not a msgpack traceback
            raise ValueError(
                f"[{self.name}] could not load the model weights from {where}: {err}"
            ) from err
