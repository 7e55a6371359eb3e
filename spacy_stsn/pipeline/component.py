"""The ``stsn`` pipeline component: the pipe interface only; the work lives in modules
of its own.

Gold entities come from ``doc.spans[spans_key]`` (or ``doc.ents``) and relations from
``doc._.relations`` (:mod:`spacy_stsn.pipeline.annotations`);
:mod:`spacy_stsn.pipeline.targets` and ``losses`` turn them into training targets and
losses, the network (:mod:`spacy_stsn.nn.stsn`, wrapped by :mod:`spacy_stsn.ml.model`)
scores spans and pairs, and :mod:`spacy_stsn.pipeline.decoding` turns its outputs into
the annotations written back in the same representation.
"""

from contextlib import nullcontext
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
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
from thinc.api import Model, Optimizer, set_dropout_rate

# registers spacy_stsn.FeatureTok2Vec.v1 wherever stsn is loaded
from ..ml import features  # noqa: F401
from ..ml.averaging import ParameterAverages
from ..ml.labels import Labels
from ..ml.model import build_head, finish_update, set_head_dropout, torch_module
from ..ml.requests import Decoding, given_spans
from ..ml.upstream import check_upstream
from .annotations import given_entities, make_relation, set_entities
from .boundaries import entity_boundaries
from .decoding import (
    DocPrediction,
    nested_threshold,
    relation_threshold_array,
    resolve_overlaps,
)
from .label_data import check_label_data, label_data
from .losses import stsn_loss
from .settings import initial_cfg, restore_learned
from .targets import Targets, TargetSettings, make_targets
from .window_outputs import Prediction, decode_rows, merge_rows
from .windows import batch_rows, check_windows, row_entities


class STSNComponent(TrainablePipe):
    """Trainable STSN component; see :func:`spacy_stsn.pipeline.factory.make_stsn` for
    the settings."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "stsn",
        *,
        scorer: Optional[Callable] = None,
        **settings: Any,
    ) -> None:
        """Create the component.

        vocab (Vocab): the pipeline's vocabulary.
        model (Model): the network, ``spacy_stsn.STSN.v1``.
        name (str): the component's name, in its error messages.
        scorer (Optional[Callable]): the scoring method, ``spacy_stsn.scorer.v1``.
        settings (Any): the component's settings, checked and defaulted by
            :class:`spacy_stsn.pipeline.settings.STSNSettings`.
        """
        self.vocab, self.model, self.name, self.scorer = vocab, model, name, scorer
        self.cfg: Dict[str, Any] = initial_cfg(settings)
        check_windows(
            self.cfg["window_size"],
            self.cfg["window_overlap"],
            model.attrs["max_span_width"],
        )

    # -- labels and settings --
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
        """The label sets the network's outputs are indexed by: entities, relation types
        (``.relations``), tags and the symmetric relation types (``.symmetric``)."""
        return Labels.from_data(self.cfg["labels"])

    @property
    def label_data(self) -> Dict[str, List[str]]:
        """Everything ``initialize(labels=...)`` takes back (``spacy init labels``
        writes it)."""
        return {key: list(values) for key, values in self.cfg["labels"].items()}

    @property
    def spans_key(self) -> str:
        return self.cfg["spans_key"]

    @property
    def overlaps(self) -> str:
        """The overlap policy in force: "flat" or "nested" (``auto`` resolved from the
        training data; a model saved before the setting existed decodes as it always
        did, nested)."""
        return resolve_overlaps(self.cfg["overlaps"], self.cfg["data_overlaps"])

    def add_label(self, label: str) -> int:
        """Add an entity label before ``initialize`` (labels are fixed once the model is
        built).

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

    # -- initialize --
    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Dict[str, List[str]]] = None,
    ) -> None:
        """Learn the label sets, resolve ``tag_scheme`` and ``overlaps`` from the data,
        and build the network.

        get_examples (Callable[[], Iterable[Example]]): the training examples.
        nlp (Optional[Language]): the pipeline (unused).
        labels (Optional[Dict[str, List[str]]]): label data from ``spacy init labels``
            (``entities``, ``relations``, optionally ``tags`` and ``symmetric``),
            instead of the labels found in the examples.
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

    # -- predict --
    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """Annotate a stream of docs, predicting on sub-batches of similar length
        (``max_batch_items`` padded positions each), as spacy-transformers'
        ``Transformer.pipe`` does.

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
        """Run the network on the docs as one batch, padded to the longest (``pipe``
        groups docs by length).

        docs (Iterable[Doc]): the docs to predict.
        RETURNS (Optional[Prediction]): the network's outputs for the non-empty docs,
            in order, and their given entities with ``entities = "given"`` (None if
            all docs are empty).
        """
        docs = [doc for doc in docs if len(doc)]
        if not docs:
            return None
        check_upstream(self.model, docs, self.name)
        rows = batch_rows(docs, *self._window_settings())
        decoding = Decoding(
            nested_threshold(self.overlaps, self.cfg["nested_threshold"]),
            rows=rows.spans,
            max_batch_items=self.cfg["max_batch_items"],
        )
        if self.cfg["entities"] != "given":
            decoding.boundaries = self.model.ops.asarray2i(entity_boundaries(docs))
            return Prediction(self.model.predict((docs, decoding)), rows)
        given = [
            given_entities(doc, self.cfg["given_spans_key"], self.labels, self.name)
            for doc in docs
        ]
        row_given = row_entities(rows, given, self.name)
        decoding.given = given_spans(self.model.ops, row_given)
        return Prediction(self.model.predict((docs, decoding)), rows, given, row_given)

    def set_annotations(
        self, docs: Iterable[Doc], predictions: Optional[Prediction]
    ) -> None:
        """Write entities (span group and ``doc.ents``), relations and tags decoded from
        ``predictions``; with given entities, the span group gets them and ``doc.ents``
        is left as the upstream component set it.

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
        decoded = self._decode(predictions, len(docs))
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

    def _decode(self, predictions: Prediction, n_docs: int) -> List[DocPrediction]:
        """Each document's annotations from the outputs of its windows."""
        thresholds = relation_threshold_array(
            self.relation_labels, self.cfg["threshold"], self.cfg["relation_thresholds"]
        )
        max_pair = torch_module(self.model).max_pair_entities
        decoded = decode_rows(
            predictions,
            self.label_set,
            thresholds,
            self.model.ops.to_numpy,
            max_pair,
            self.name,
        )
        return merge_rows(predictions.rows, decoded, n_docs, predictions.given)

    def _window_settings(self) -> Tuple[str, int, int, int]:
        """The windows setting, window_size, window_overlap and the max_span_width."""
        cfg = self.cfg
        width = self.model.attrs["max_span_width"]
        return cfg["windows"], cfg["window_size"], cfg["window_overlap"], width

    # -- training --
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
        drop (Optional[float]): the dropout rate (``[training] dropout``); None keeps
            the architecture's.
        sgd (Optional[Optimizer]): the optimizer; None leaves the gradients for a later
            ``finish_update``.
        losses (Optional[Dict[str, float]]): the loss is added to ``losses[name]``.
        RETURNS (Dict[str, float]): ``losses``.
        """
        losses = {} if losses is None else losses
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

    def finish_update(self, sgd: Optimizer) -> None:
        """Update the weights with ``sgd``, the component's own layers at the
        architecture's ``learn_rate_scale`` times its rate
        (:func:`spacy_stsn.ml.model.finish_update`).

        sgd (Optimizer): the optimizer.
        """
        finish_update(self.model, sgd)

    def use_params(self, params: Any) -> Iterator[None]:
        """spaCy scores and saves inside ``nlp.use_params(optimizer.averages)``: with
        ``spacy_stsn.AdamW.v1``'s averages, every tensor that optimizer steps (the
        listened-to transformer's too, which thinc's key lookups miss) holds its average
        for the block (:mod:`spacy_stsn.ml.averaging`); other parameters go through
        thinc.

        params (Any): the optimizer's averages.
        YIELDS (None): once, inside the block (a generator, as spaCy's pipes define
            it).
        """
        applied = (
            params.applied() if isinstance(params, ParameterAverages) else nullcontext()
        )
        with applied, self.model.use_params(params):
            yield

    def get_loss(
        self, examples: Iterable[Example], scores: Tuple[Tuple, Targets]
    ) -> Tuple[float, Tuple]:
        """The loss of a batch and its gradients with respect to the network's logits.

        examples (Iterable[Example]): the batch.
        scores (Tuple[Tuple, Targets]): the network's training outputs and the targets
            they were computed for.
        RETURNS (Tuple[float, Tuple]): the loss and the gradients of the tag, span and
            relation logits.
        """
        outputs, targets = scores
        return stsn_loss(self.model.ops, outputs, targets)

    def _target_settings(self) -> TargetSettings:
        width = self.model.attrs["max_span_width"]
        return TargetSettings.from_cfg(self.label_set, self.cfg, width, self.name)

    # -- scoring and serialization --
    def score(self, examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        """NER, RE and RE+ scores (``spacy_stsn.scorer.v1``), symmetric types matched in
        either order.

        examples (Iterable[Example]): predicted and gold docs.
        kwargs (Any): passed on to the scorer.
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
        """Load what ``to_bytes`` saved: the learned labels first, which size the
        network, then its weights.

        bytes_data (bytes): what ``to_bytes`` returned.
        exclude (Iterable[str]): parts not to load ("cfg", "vocab", "model").
        RETURNS (STSNComponent): the component.
        """
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
        """Load what ``to_disk`` saved, as :meth:`from_bytes`; a missing part is an
        error naming ``path``.

        path (Path): the component's directory.
        exclude (Iterable[str]): parts not to load ("cfg", "model").
        RETURNS (STSNComponent): the component.
        """
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
        """Take what initialize learned from ``saved`` (settings come from the config,
        so they can be changed at load time) and size the network for it."""
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
