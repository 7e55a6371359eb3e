"""The ``stsn`` component's settings, each written once: its type, default, allowed
values and what it does, in :class:`STSNSettings`, which checks them. The factory's
``default_config`` and its docstring, the component's cfg and docs/settings.md are
derived from it."""

import dataclasses
import json
import textwrap
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ..ml.precision import PRECISIONS
from .annotations import DEFAULT_SPANS_KEY
from .decoding import OVERLAP_POLICIES
from .tags import SCHEMES
from .windows import WINDOW_MODES

ENTITY_MODES = ("predict", "given")
# what initialize learns from the data; the other cfg entries are settings, which come
# from the config
LEARNED = ("labels", "input_width", "tag_scheme", "data_overlaps")


def setting(
    default: Any,
    doc: str,
    *,
    choices: Optional[Tuple[Any, ...]] = None,
    minimum: Optional[float] = None,
    maximum: Optional[float] = None,
    paper: Optional[str] = None,
) -> Any:
    """A field of :class:`STSNSettings`.

    default (Any): the default value; a dict or list default is copied for each object.
    doc (str): what the setting does, for the factory's docstring and docs/settings.md.
    choices (Optional[Tuple[Any, ...]]): the values allowed, if only some are.
    minimum (Optional[float]): the least value allowed (of each value, for a dict).
    maximum (Optional[float]): the greatest value allowed (of each value, for a dict).
    paper (Optional[str]): how the setting relates to the paper: the value that is the
        paper's behaviour, or that it goes beyond the paper; None where the paper says
        nothing about it.
    RETURNS (Any): the dataclass field.
    """
    metadata = {
        "doc": doc,
        "choices": choices,
        "minimum": minimum,
        "maximum": maximum,
        "paper": paper,
    }
    if isinstance(default, (dict, list)):
        factory = type(default)
        return field(default_factory=lambda: factory(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class STSNSettings:
    """Every setting of the ``stsn`` component (the factory's keyword arguments besides
    ``model`` and ``scorer``), checked when the object is created: a value out of
    range is a ``ValueError`` naming the setting and the values it allows."""

    spans_key: str = setting(
        DEFAULT_SPANS_KEY,
        "The span group that holds every entity, gold and predicted, overlaps "
        "included.",
    )
    threshold: float = setting(
        0.4,
        "A relation is kept when its sigmoid reaches it.",
        minimum=0.0,
        maximum=1.0,
        paper="the paper's alpha, 0.4 in its experiments",
    )
    relation_thresholds: Dict[str, float] = setting(
        {},
        "Per relation type, a threshold that replaces `threshold` for that type "
        "(`python -m spacy_stsn tune` chooses them on dev); {}: `threshold` for every "
        "type.",
        minimum=0.0,
        maximum=1.0,
        paper="beyond the paper; {} is the paper's one alpha",
    )
    tag_scheme: str = setting(
        "auto",
        'The token tags: "BIO", "extended_BIO" (two-fold tags for overlapping '
        'entities) or "auto" (extended_BIO iff the training data has overlapping '
        "entities), resolved at initialize.",
        choices=SCHEMES + ("auto",),
        paper='the paper\'s: "extended_BIO" is its section 4.1.2',
    )
    overlaps: str = setting(
        "auto",
        'Whether predicted entities may overlap: "flat" (never: the greedy rule of '
        '`spacy_stsn.pipeline.decoding` runs before pairing), "nested" (overlaps '
        'kept) or "auto" (flat iff the training data has no overlapping entities), '
        "resolved at initialize.",
        choices=OVERLAP_POLICIES,
        paper='"nested" is the paper\'s behaviour; "flat" and "auto" go beyond it',
    )
    nested_threshold: float = setting(
        0.0,
        'Under "nested", an entity that overlaps a better-scored one is kept only if '
        "its score reaches this (0: every overlap).",
        minimum=0.0,
        maximum=1.0,
        paper="0 is the paper's behaviour",
    )
    symmetric_relations: List[str] = setting(
        [],
        "Relation types whose argument order carries no meaning, added to those the "
        'training data marks (a SpERT types file\'s `"symmetric": true`); their '
        "relations are put in canonical order.",
        paper="beyond the paper; [] and unmarked data: the paper's behaviour",
    )
    entities: str = setting(
        "predict",
        '"predict" (joint extraction) or "given": at inference, take the entities an '
        "upstream component set (`doc.ents`, or the span group `given_spans_key`) and "
        "predict only the relations among them; training is the same either way.",
        choices=ENTITY_MODES,
        paper='"predict" is the paper\'s task; "given" goes beyond it',
    )
    given_spans_key: Optional[str] = setting(
        None,
        'The span group holding the given entities under entities = "given"; None '
        "reads `doc.ents`.",
    )
    neg_entity_samples: int = setting(
        100,
        "Random non-entity spans per document in training.",
        minimum=0,
        paper="the paper's negative sampling, 100 in its experiments",
    )
    neg_relation_samples: int = setting(
        100,
        "Random unrelated gold-entity pairs per document in training.",
        minimum=0,
        paper="the paper's negative sampling, 100 in its experiments",
    )
    max_batch_items: int = setting(
        2048,
        "Padded token positions per sub-batch in `pipe` (docs are grouped by length) "
        "and per chunk of windows of a long document: it bounds the head's memory, "
        "whatever the length of the text.",
        minimum=1,
    )
    precision: Optional[str] = setting(
        None,
        "The compute precision of this component's model and of the transformer it "
        "listens to (`spacy_stsn.ml.precision`); None leaves it to the pipeline's "
        "`spacy_stsn.precision.v1` callback, which also records it here, so that a "
        "pipeline sourcing the component keeps it.",
        choices=PRECISIONS + (None,),
    )
    windows: str = setting(
        "auto",
        "Where relation candidates are looked for (`spacy_stsn.pipeline.windows`), in "
        'training and at inference alike: "auto" (each sentence where the doc has '
        'sentence boundaries, else token windows), "tokens" (token windows whatever '
        'the sentences) or "document" (the whole document is one window; a long text '
        "then pairs only the `max_pair_entities` best entities of the whole text). A "
        "document no longer than `window_size` is one window in every mode.",
        choices=WINDOW_MODES,
        paper='"document" is the paper\'s behaviour on its sentence-level inputs; '
        '"auto" and "tokens" go beyond it',
    )
    window_size: int = setting(
        128,
        "The longest window in tokens; a longer document or sentence is cut into "
        "token windows (every CoNLL04 and ADE sentence fits in 128).",
        minimum=1,
    )
    window_overlap: int = setting(
        32,
        "Tokens that consecutive token windows share at least, so relation arguments "
        "at most `window_overlap + 1` tokens apart always share a window; at least "
        "`max_span_width - 1`, less than `window_size` (why 32: benchmarks/README.md, "
        '"Relation distances").',
        minimum=0,
    )

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            _check_value(item.name, getattr(self, item.name), item.metadata)
        if self.window_overlap >= self.window_size:
            raise ValueError(
                f"window_overlap must be >= 0 and less than window_size "
                f"({self.window_size}), not {self.window_overlap}"
            )
        self.relation_thresholds = dict(self.relation_thresholds)
        self.symmetric_relations = sorted(self.symmetric_relations)

    @classmethod
    def from_dict(cls, settings: Dict[str, Any]) -> "STSNSettings":
        """The settings given, the others at their defaults.

        settings (Dict[str, Any]): setting names and values.
        RETURNS (STSNSettings): the checked settings; an unknown name is a
            ``ValueError`` naming it.
        """
        names = [item.name for item in dataclasses.fields(cls)]
        unknown = sorted(set(settings) - set(names))
        if unknown:
            raise ValueError(
                f"unknown stsn settings {unknown}; the settings are {sorted(names)}"
            )
        return cls(**settings)

    @classmethod
    def defaults(cls) -> Dict[str, Any]:
        """Every setting's default, in declaration order (the factory's
        ``default_config``)."""
        return dataclasses.asdict(cls())

    @classmethod
    def described(cls) -> Iterator[Tuple[dataclasses.Field, str]]:
        """Each field with its type as a config writes it (``Optional[str]``)."""
        for item in dataclasses.fields(cls):
            kind = item.type
            name = getattr(kind, "__name__", None) if isinstance(kind, type) else None
            yield item, name or str(kind).replace("typing.", "")


def allowed(rules: Any) -> str:
    """The values a setting allows, in words (its field's metadata); "" when any value
    of its type is allowed.

    rules (Any): the field's metadata.
    RETURNS (str): the words.
    """
    if rules["choices"] is not None:
        return "one of " + ", ".join(json.dumps(choice) for choice in rules["choices"])
    low, high = rules["minimum"], rules["maximum"]
    if low is not None and high is not None:
        return f"in [{low:g}, {high:g}]"
    return "" if low is None else f">= {low:g}"


def settings_docstring(indent: str = "    ") -> str:
    """The settings as the argument lines of a docstring, one per setting with its type,
    what it does, its default and allowed values (the factory's docstring ends with
    them).

    indent (str): the docstring's indentation.
    RETURNS (str): the lines.
    """
    lines, defaults = [""], STSNSettings.defaults()
    for item, kind in STSNSettings.described():
        default = json.dumps(defaults[item.name])
        rules = [f"Default {default}", allowed(item.metadata)]
        text = f"{item.name} ({kind}): {item.metadata['doc']} "
        text += "; ".join(rule for rule in rules if rule) + "."
        lines += textwrap.wrap(
            text, 88, initial_indent=indent, subsequent_indent=indent * 2
        )
    return "\n".join(lines) + "\n" + indent


def _check_value(name: str, value: Any, rules: Any) -> None:
    """A ``ValueError`` naming the setting when ``value`` breaks its ``rules`` (the
    field's metadata)."""
    choices, low, high = rules["choices"], rules["minimum"], rules["maximum"]
    if choices is not None and value not in choices:
        raise ValueError(f"{name} must be one of {choices}, not {value!r}")
    values = value.items() if isinstance(value, dict) else [(None, value)]
    for key, number in values:
        where = name if key is None else f"{name}[{key!r}]"
        if low is not None and (
            isinstance(number, bool) or not isinstance(number, (int, float))
        ):
            raise ValueError(f"{where} must be a number, not {number!r}")
        if low is not None and high is not None and not low <= number <= high:
            raise ValueError(f"{where} must be in [{low:g}, {high:g}], not {number}")
        if low is not None and high is None and number < low:
            raise ValueError(f"{where} must be >= {low}, not {number}")


def initial_cfg(settings: Dict[str, Any]) -> Dict[str, Any]:
    """A new component's cfg: its checked settings, the label data it starts with
    (``symmetric_relations`` from the config; the rest is learnt at ``initialize``) and
    what ``initialize`` will learn, unknown yet.

    settings (Dict[str, Any]): the component's settings (:class:`STSNSettings`).
    RETURNS (Dict[str, Any]): the cfg.
    """
    cfg = dataclasses.asdict(STSNSettings.from_dict(settings))
    symmetric = cfg.pop("symmetric_relations")
    labels = {"entities": [], "relations": [], "tags": [], "symmetric": symmetric}
    return {"labels": labels, **cfg, "input_width": None, "data_overlaps": None}


def restore_learned(cfg: Dict[str, Any], saved: Dict[str, Any]) -> None:
    """Put what ``initialize`` learned (``LEARNED``) from a saved cfg into ``cfg``,
    whose settings come from the config and so can be changed at load time; symmetric
    relation types configured now are kept.

    cfg (Dict[str, Any]): the component's cfg, updated in place.
    saved (Dict[str, Any]): the cfg the pipeline was saved with.
    """
    configured = set(cfg["labels"].get("symmetric", ()))
    cfg.update({key: saved[key] for key in LEARNED if key in saved})
    labels = cfg["labels"]
    symmetric = set(labels.get("symmetric", ())) | configured
    labels["symmetric"] = sorted(symmetric & set(labels["relations"]))
