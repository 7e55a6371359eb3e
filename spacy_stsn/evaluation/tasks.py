"""The three tasks the paper scores, NER, RE and RE+: the one table that the scorer, the
evaluation report, the threshold sweep and the experiment scripts read."""

from typing import NamedTuple


class Task(NamedTuple):
    """One scored task.

    name (str): as the paper's tables print it ("NER", "RE", "RE+").
    prefix (str): the start of the scorer's keys (``ents`` gives ``ents_f``,
        ``ents_macro_p``, ``ents_per_type``, ...).
    field (str): the :class:`spacy_stsn.evaluation.scorer.DocItems` field that holds
        the task's items.
    relation (bool): whether its types are relation types (RE, RE+) rather than entity
        types (NER): the label list that macro averages count.
    """

    name: str
    prefix: str
    field: str
    relation: bool


NER = Task("NER", "ents", "entities", False)
RE = Task("RE", "rel", "relations", True)
RE_PLUS = Task("RE+", "rel_strict", "strict_relations", True)  # RE with entity types
TASKS = (NER, RE, RE_PLUS)
