"""The ``stsn`` pipeline component: orchestrates data <-> model; the network lives in ``stsn_torch``.

It reads gold entities from ``doc.spans[spans_key]`` (or ``doc.ents``) and relations from ``doc._.relations``,
samples negative spans and pairs for training (section 4.1.4), and writes predictions back in the same
representation (see :mod:`spacy_stsn.annotations`).
"""
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
import srsly
from spacy import util
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer

from .annotations import DEFAULT_SPANS_KEY, doc_name, get_entities, make_relation, set_entities
from .model import Candidates, build_head, torch_module
from .tags import OUTSIDE, SCHEMES, decode_tags, encode_tags

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
# padded positions per sub-batch at inference: 64 sentences of 32 tokens, or one document of 2,048
PREDICT_BATCH_POSITIONS = 2048


@Language.factory(
    "stsn",
    assigns=["doc.ents", "doc.spans", "doc._.relations", "doc._.stsn_tags"],
    default_config={
        "model": DEFAULT_MODEL,
        "spans_key": DEFAULT_SPANS_KEY,
        "threshold": 0.4,
        "tag_scheme": "auto",
        "neg_entity_samples": 100,
        "neg_relation_samples": 100,
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
    neg_entity_samples: int,
    neg_relation_samples: int,
    scorer: Optional[Callable],
) -> "STSNComponent":
    """Joint entity and relation extraction (STSN). ``threshold`` is the paper's alpha; ``tag_scheme`` is
    BIO, extended_BIO (two-fold overlaps, as for ADE) or auto (extended_BIO iff the training data overlaps)."""
    return STSNComponent(
        nlp.vocab,
        model,
        name,
        spans_key=spans_key,
        threshold=threshold,
        tag_scheme=tag_scheme,
        neg_entity_samples=neg_entity_samples,
        neg_relation_samples=neg_relation_samples,
        scorer=scorer,
    )


@dataclass
class Targets:
    """Training candidates and their gold labels for a batch of non-empty docs."""

    candidates: Candidates
    span_labels: numpy.ndarray  # (B, S) int, 0 = NoneEntity, -1 = padding
    pair_labels: numpy.ndarray  # (B, P, R) multi-hot
    pair_mask: numpy.ndarray  # (B, P) bool
    tag_labels: numpy.ndarray  # (B, T) int, -1 = ignored


class STSNComponent(TrainablePipe):
    """Trainable STSN component; see the factory for the settings."""

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "stsn",
        *,
        spans_key: str = DEFAULT_SPANS_KEY,
        threshold: float = 0.4,
        tag_scheme: str = "auto",
        neg_entity_samples: int = 100,
        neg_relation_samples: int = 100,
        scorer: Optional[Callable] = None,
    ) -> None:
        if tag_scheme not in SCHEMES + ("auto",):
            raise ValueError(f"tag_scheme must be one of {SCHEMES + ('auto',)}, not {tag_scheme!r}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], not {threshold}")
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {
            "labels": {"entities": [], "relations": [], "tags": []},
            "spans_key": spans_key,
            "threshold": threshold,
            "tag_scheme": tag_scheme,
            "neg_entity_samples": neg_entity_samples,
            "neg_relation_samples": neg_relation_samples,
            "input_width": None,
        }

    # -- labels ----------------------------------------------------------------------------------
    @property
    def labels(self) -> Tuple[str, ...]:
        """Entity labels (what ``spacy init labels`` and ``nlp.pipe_labels`` show)."""
        return tuple(self.cfg["labels"]["entities"])

    @property
    def relation_labels(self) -> Tuple[str, ...]:
        return tuple(self.cfg["labels"]["relations"])

    @property
    def tag_labels(self) -> Tuple[str, ...]:
        return tuple(self.cfg["labels"]["tags"])

    @property
    def label_data(self) -> Dict[str, List[str]]:
        return {key: list(values) for key, values in self.cfg["labels"].items()}

    @property
    def spans_key(self) -> str:
        return self.cfg["spans_key"]

    @property
    def max_span_width(self) -> int:
        return self.model.attrs["max_span_width"]

    def add_label(self, label: str) -> int:
        """Add an entity label before ``initialize`` (labels are fixed once the model is built)."""
        if self.cfg["input_width"] is not None:
            raise ValueError(f"[{self.name}] cannot add label {label!r}: the model is already initialized")
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
        """Learn the label sets (unless ``labels`` is given, e.g. from ``spacy init labels``), choose the tag
        scheme and build the network."""
        validate_get_examples(get_examples, f"{self.name}.initialize")
        entities, relations = set(self.cfg["labels"]["entities"]), set()  # add_label() may have added some
        overlaps = False
        sample: List[Doc] = []
        examples = list(get_examples())
        for eg in examples:
            ents = get_entities(eg.reference, self.spans_key)
            entities.update(label for _, _, label in ents)
            relations.update(rel["label"] for rel in eg.reference._.relations)
            overlaps = overlaps or _has_overlap(ents)
            if len(sample) < 10 and len(eg.predicted):
                sample.append(eg.predicted)
        if self.cfg["tag_scheme"] == "auto":
            self.cfg["tag_scheme"] = "extended_BIO" if overlaps else "BIO"
        if labels is not None:
            entities, relations = set(labels["entities"]), set(labels["relations"])
        tags = {OUTSIDE} | {f"{prefix}-{label}" for label in entities for prefix in "BI"}
        if labels is not None and labels.get("tags"):
            tags.update(labels["tags"])
        elif self.cfg["tag_scheme"] == "extended_BIO":
            # two-fold tags ("B-AE/B-DRUG") exist only for the combinations the data has
            for eg in examples:
                tags.update(encode_tags(len(eg.reference), get_entities(eg.reference, self.spans_key),
                                        "extended_BIO")[0])
        if not entities:
            raise ValueError(f"[{self.name}] found no entity labels in the training data (spans_key "
                             f"{self.spans_key!r} or doc.ents); check the corpus and the spans_key setting")
        self.cfg["labels"] = {
            "entities": sorted(entities),
            "relations": sorted(relations),
            "tags": [OUTSIDE] + sorted(tags - {OUTSIDE}),
        }
        self.model.attrs["labels"] = self.cfg["labels"]
        self.model.initialize(X=(sample, None))
        self.cfg["input_width"] = torch_module(self.model).dims[0]

    def _build_from_cfg(self) -> None:
        """Recreate the network's parameters from the stored config before loading weights."""
        labels = self.cfg["labels"]
        self.model.attrs["labels"] = labels
        if self.cfg.get("input_width"):
            build_head(self.model, self.cfg["input_width"], len(labels["entities"]), len(labels["relations"]),
                       len(labels["tags"]))

    # -- predict ---------------------------------------------------------------------------------
    def predict(self, docs: Iterable[Doc]) -> List[Tuple[List[int], Tuple]]:
        """Run the network on the non-empty docs, in sub-batches of similar length; returns, per sub-batch,
        the docs' positions and the raw model outputs.

        The head pads a batch to its longest doc (in corpus order a batch of 32 CoNLL04 sentences is 2.4 times
        its real tokens); its per-token layers skip the padding, but attention and the span and pair decoders
        still pay for it. Each doc's outputs do not depend on what it is batched with, so sorting changes no
        prediction, only the time."""
        docs = list(docs)
        keep = [i for i, doc in enumerate(docs) if len(doc)]
        return [(group, self.model.predict(([docs[i] for i in group], None)))
                for group in length_buckets(keep, [len(docs[i]) for i in keep], PREDICT_BATCH_POSITIONS)]

    def set_annotations(self, docs: Iterable[Doc], predictions: List[Tuple[List[int], Tuple]]) -> None:
        docs = list(docs)
        for doc in docs:
            set_entities(doc, [], spans_key=self.spans_key)
            doc._.relations = []
            doc._.stsn_tags = None
        for positions, outputs in predictions:
            self._annotate(docs, positions, outputs)

    def _annotate(self, docs: List[Doc], positions: List[int], outputs: Tuple) -> None:
        """Write one sub-batch's entities, relations and tags onto ``docs[positions]``."""
        ops = self.model.ops
        tag_probs, spans, span_probs, is_entity, pairs, pair_valid, rel_probs = (ops.to_numpy(o) for o in outputs)
        entity_labels, rel_labels, tag_labels = self.labels, self.relation_labels, self.tag_labels
        threshold = self.cfg["threshold"]
        tag_ids = tag_probs.argmax(-1) if tag_probs.shape[-1] else None
        label_ids = span_probs[..., 1:].argmax(-1)
        label_scores = span_probs[..., 1:].max(-1)
        for row, i in enumerate(positions):
            doc = docs[i]
            ents = numpy.flatnonzero(is_entity[row])
            set_entities(
                doc,
                [(int(spans[row, j, 0]), int(spans[row, j, 1]), entity_labels[label_ids[row, j]]) for j in ents],
                scores=label_scores[row, ents].tolist(),
                spans_key=self.spans_key,
            )
            pair_idx, rel_idx = numpy.nonzero((rel_probs[row] >= threshold) & pair_valid[row][:, None])
            relations = []
            for p, r in zip(pair_idx.tolist(), rel_idx.tolist()):
                head, tail = pairs[row, p]
                relations.append(make_relation(
                    spans[row, head], entity_labels[label_ids[row, head]],
                    spans[row, tail], entity_labels[label_ids[row, tail]],
                    rel_labels[r], float(rel_probs[row, p, r]),
                ))
            doc._.relations = relations
            if tag_ids is not None:
                doc._.stsn_tags = [tag_labels[t] for t in tag_ids[row, : len(doc)].tolist()]

    # -- training --------------------------------------------------------------------------------
    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """One step on the sum of the tagging, span and relation losses (Eq. 18)."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = [eg for eg in examples if len(eg.predicted)]
        validate_examples(examples, f"{self.name}.update")
        if not examples:
            return losses
        targets = self.make_targets(examples)
        outputs, backprop = self.model.begin_update(([eg.predicted for eg in examples], targets.candidates))
        loss, gradients = self.get_loss(examples, (outputs, targets))
        backprop(gradients)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def get_loss(self, examples: Iterable[Example], scores: Tuple[Tuple, Targets]) -> Tuple[float, Tuple]:
        """Cross-entropy for tags and spans, binary cross-entropy for relations (Eq. 9, 13, 17), and their
        gradients with respect to the logits. ``scores`` is ``(model outputs, targets)`` from the same batch."""
        (tag_logits, span_logits, rel_logits), targets = scores
        ops = self.model.ops
        xp = ops.xp
        tag_loss, d_tags = _softmax_cross_entropy(ops, tag_logits, xp.asarray(targets.tag_labels))
        span_loss, d_spans = _softmax_cross_entropy(ops, span_logits, xp.asarray(targets.span_labels))
        mask = xp.asarray(targets.pair_mask, dtype="float32")[..., None]
        probs = ops.sigmoid(rel_logits)
        y = xp.asarray(targets.pair_labels, dtype="float32")
        n_pairs = max(float(mask.sum()), 1.0)
        eps = 1e-7
        rel_loss = -float(((y * xp.log(probs + eps) + (1 - y) * xp.log(1 - probs + eps)) * mask).sum()) / n_pairs
        d_rels = ((probs - y) * mask / n_pairs).astype("float32")
        return tag_loss + span_loss + rel_loss, (d_tags, d_spans, d_rels)

    def make_targets(self, examples: Sequence[Example]) -> Targets:
        """Gold spans plus up to ``neg_entity_samples`` random non-entity spans (width <= max_span_width), and
        gold-related entity pairs plus up to ``neg_relation_samples`` unrelated gold-entity pairs, per doc."""
        entity_ids = {label: i + 1 for i, label in enumerate(self.labels)}
        rel_ids = {label: i for i, label in enumerate(self.relation_labels)}
        tag_ids = {tag: i for i, tag in enumerate(self.tag_labels)}
        per_doc = [self._doc_targets(i, eg, entity_ids, rel_ids, tag_ids) for i, eg in enumerate(examples)]
        n_spans = max(len(d[0]) for d in per_doc)
        n_pairs = max(1, max(len(d[2]) for d in per_doc))
        n_tokens = max(len(eg.predicted) for eg in examples)
        batch = len(per_doc)
        spans = numpy.zeros((batch, n_spans, 2), dtype="int32")
        span_labels = numpy.full((batch, n_spans), -1, dtype="int32")
        pairs = numpy.zeros((batch, n_pairs, 2), dtype="int32")
        pair_labels = numpy.zeros((batch, n_pairs, len(rel_ids)), dtype="float32")
        pair_mask = numpy.zeros((batch, n_pairs), dtype=bool)
        tag_labels = numpy.full((batch, n_tokens), -1, dtype="int32")
        for b, (doc_spans, doc_span_labels, doc_pairs, doc_pair_labels, doc_tags) in enumerate(per_doc):
            spans[b, : len(doc_spans)] = doc_spans
            span_labels[b, : len(doc_spans)] = doc_span_labels
            pairs[b, : len(doc_pairs)] = doc_pairs
            pair_labels[b, : len(doc_pairs)] = doc_pair_labels
            pair_mask[b, : len(doc_pairs)] = True
            tag_labels[b, : len(doc_tags)] = doc_tags
        xp = self.model.ops.xp
        return Targets(Candidates(xp.asarray(spans), xp.asarray(pairs)), span_labels, pair_labels, pair_mask,
                       tag_labels)

    def _doc_targets(self, index: int, eg: Example, entity_ids: Dict[str, int], rel_ids: Dict[str, int],
                     tag_ids: Dict[str, int]) -> Tuple[numpy.ndarray, ...]:
        doc = eg.predicted
        gold = _aligned_entities(eg, self.spans_key)
        for start, end, label in gold:
            if label not in entity_ids:
                raise ValueError(f"[{self.name}] {doc_name(eg.reference, index)}: entity label {label!r} "
                                 f"at [{start}, {end}) is not one of the model's labels {list(entity_ids)}")
        position = {(s, e): i for i, (s, e, _) in enumerate(gold)}
        gold_spans = numpy.asarray([(s, e) for s, e, _ in gold], dtype="int64").reshape(-1, 2)
        # Negative spans: a random sample of all spans up to max_span_width that are not gold entities.
        width = self.max_span_width
        starts = numpy.repeat(numpy.arange(len(doc)), width)
        ends = starts + numpy.tile(numpy.arange(1, width + 1), len(doc))
        inside = ends <= len(doc)
        starts, ends = starts[inside], ends[inside]
        is_gold = numpy.isin(starts * (len(doc) + 1) + ends, gold_spans[:, 0] * (len(doc) + 1) + gold_spans[:, 1])
        negatives = numpy.flatnonzero(~is_gold)
        n_neg = min(self.cfg["neg_entity_samples"], len(negatives))
        negatives = numpy.random.choice(negatives, n_neg, replace=False) if n_neg else negatives[:0]
        doc_spans = numpy.concatenate([gold_spans, numpy.stack([starts[negatives], ends[negatives]], -1)])
        doc_span_labels = numpy.asarray([entity_ids[label] for _, _, label in gold] + [0] * n_neg, dtype="int32")
        # Positive pairs: gold relations (multi-hot over relation types); negatives: other gold-entity pairs.
        positive: Dict[Tuple[int, int], numpy.ndarray] = {}
        for rel in _aligned_relations(eg, index, self.name):
            head, tail = position.get(tuple(rel["head"])), position.get(tuple(rel["tail"]))
            if head is None or tail is None:
                missing = rel["head"] if head is None else rel["tail"]
                raise ValueError(f"[{self.name}] {doc_name(eg.reference, index)}: relation {rel['label']!r} "
                                 f"points at [{missing[0]}, {missing[1]}), which is not an entity in "
                                 f"doc.spans[{self.spans_key!r}]")
            if rel["label"] not in rel_ids:
                raise ValueError(f"[{self.name}] {doc_name(eg.reference, index)}: relation label "
                                 f"{rel['label']!r} is not one of the model's labels {list(rel_ids)}")
            positive.setdefault((head, tail), numpy.zeros(len(rel_ids), dtype="float32"))[rel_ids[rel["label"]]] = 1
        n_gold = len(gold)
        all_pairs = numpy.stack(numpy.meshgrid(numpy.arange(n_gold), numpy.arange(n_gold), indexing="ij"), -1)
        all_pairs = all_pairs.reshape(-1, 2)
        all_pairs = all_pairs[all_pairs[:, 0] != all_pairs[:, 1]]
        pos_pairs = numpy.asarray(list(positive), dtype="int64").reshape(-1, 2)
        is_pos = numpy.isin(all_pairs[:, 0] * (n_gold + 1) + all_pairs[:, 1],
                            pos_pairs[:, 0] * (n_gold + 1) + pos_pairs[:, 1])
        neg_pairs = all_pairs[~is_pos]
        n_neg_pairs = min(self.cfg["neg_relation_samples"], len(neg_pairs))
        if n_neg_pairs < len(neg_pairs):
            neg_pairs = neg_pairs[numpy.random.choice(len(neg_pairs), n_neg_pairs, replace=False)]
        doc_pairs = numpy.concatenate([pos_pairs, neg_pairs])
        doc_pair_labels = numpy.zeros((len(doc_pairs), len(rel_ids)), dtype="float32")
        if positive:
            doc_pair_labels[: len(positive)] = numpy.stack(list(positive.values()))
        tags, _ = encode_tags(len(doc), gold, self.cfg["tag_scheme"])
        doc_tags = numpy.asarray([tag_ids.get(tag, -1) for tag in tags], dtype="int32")
        return doc_spans, doc_span_labels, doc_pairs, doc_pair_labels, doc_tags

    # -- scoring and serialization ---------------------------------------------------------------
    def score(self, examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        validate_examples(examples, f"{self.name}.score")
        return self.scorer(examples, spans_key=self.spans_key, **kwargs)

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        serialize = {"cfg": lambda: srsly.json_dumps(self.cfg), "model": self.model.to_bytes}
        return util.to_bytes(serialize, exclude)

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "STSNComponent":
        msg = srsly.msgpack_loads(bytes_data)
        if "cfg" not in exclude:
            self.cfg.update(srsly.json_loads(msg["cfg"]))
        self._build_from_cfg()
        if "model" not in exclude:
            self._load_model(msg["model"], "<bytes>")
        return self

    def to_disk(self, path: Path, *, exclude: Iterable[str] = tuple()) -> None:
        path = util.ensure_path(path)
        serialize = {
            "cfg": lambda p: srsly.write_json(p, self.cfg),
            "model": lambda p: p.write_bytes(self.model.to_bytes()),
        }
        util.to_disk(path, serialize, exclude)

    def from_disk(self, path: Path, *, exclude: Iterable[str] = tuple()) -> "STSNComponent":
        path = util.ensure_path(path)
        if not (path / "cfg").exists() or not (path / "model").exists():
            raise ValueError(f"[{self.name}] {path} is not a saved stsn component: 'cfg' or 'model' is missing")
        if "cfg" not in exclude:
            self.cfg.update(srsly.read_json(path / "cfg"))
        self._build_from_cfg()
        if "model" not in exclude:
            self._load_model((path / "model").read_bytes(), str(path / "model"))
        return self

    def _load_model(self, data: bytes, where: str) -> None:
        try:
            self.model.from_bytes(data)
        except Exception as err:  # a truncated or foreign file: say which one, not a msgpack traceback
            raise ValueError(f"[{self.name}] could not load the model weights from {where}: {err}") from err


def length_buckets(items: Sequence[int], lengths: Sequence[int], max_positions: int) -> List[List[int]]:
    """``items`` grouped by ascending length so that each group, padded to its longest, has at most
    ``max_positions`` positions (a longer item gets a group of its own)."""
    groups: List[List[int]] = []
    for length, item in sorted(zip(lengths, items)):
        if groups and (len(groups[-1]) + 1) * length <= max_positions:
            groups[-1].append(item)
        else:
            groups.append([item])
    for group in groups:
        group.sort()
    return groups


def _softmax_cross_entropy(ops: Any, logits: Any, labels: Any) -> Tuple[float, Any]:
    """Mean cross-entropy over positions whose label is >= 0, and its gradient w.r.t. ``logits``."""
    xp = ops.xp
    if logits.shape[-1] == 0:
        return 0.0, xp.zeros(logits.shape, dtype="float32")
    valid = labels >= 0
    n = max(float(valid.sum()), 1.0)
    probs = ops.softmax(logits, axis=-1)
    gold = xp.eye(logits.shape[-1], dtype="float32")[xp.where(valid, labels, 0)] * valid[..., None]
    loss = -float((xp.log(probs + 1e-9) * gold).sum()) / n
    return loss, ((probs - gold) * valid[..., None] / n).astype("float32")


def _has_overlap(spans: Sequence[Tuple[int, int, str]]) -> bool:
    ordered = sorted((s, e) for s, e, _ in spans)
    return any(ordered[i][1] > ordered[i + 1][0] for i in range(len(ordered) - 1))


def _same_tokens(eg: Example) -> bool:
    x, y = eg.predicted, eg.reference
    return len(x) == len(y) and x.text == y.text and bool((x.to_array("IDX") == y.to_array("IDX")).all())


def _aligned_entities(eg: Example, spans_key: str) -> List[Tuple[int, int, str]]:
    """Gold entities in the predicted doc's tokens; entities that do not align to tokens are left out with
    a warning (the tokenizer, not the data, decides where tokens start)."""
    gold = get_entities(eg.reference, spans_key)
    if _same_tokens(eg):
        return gold
    ref = eg.reference
    out = []
    for start, end, label in gold:
        aligned = eg.get_aligned_spans_y2x([ref[start:end]], allow_overlap=True)
        if aligned:
            out.append((aligned[0].start, aligned[0].end, label))
        else:
            warnings.warn(f"{doc_name(ref)}: entity {ref[start:end].text!r} ({label}) does not align with "
                          f"the predicted tokenization and is ignored; train with gold_preproc = true")
    return out


def _aligned_relations(eg: Example, index: int, name: str) -> List[Dict[str, Any]]:
    relations = eg.reference._.relations
    if _same_tokens(eg):
        return relations
    ref = eg.reference
    out = []
    for rel in relations:
        moved = [eg.get_aligned_spans_y2x([ref[s:e]], allow_overlap=True) for s, e in (rel["head"], rel["tail"])]
        if all(moved):
            out.append(dict(rel, head=[moved[0][0].start, moved[0][0].end], tail=[moved[1][0].start, moved[1][0].end]))
    return out


def decode_doc_tags(doc: Doc) -> List[Tuple[int, int, str]]:
    """Entities read off the predicted token tags (the tagging decoder's own view, for inspection)."""
    return decode_tags(doc._.stsn_tags or [])
