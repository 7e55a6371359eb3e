"""The label sets of a trained component and the span type shared by targets, decoding
and tags (no spaCy)."""

from typing import Any, Dict, NamedTuple, Sequence, Tuple

# an entity as (start, end, label): token offsets [start, end)
Span3 = Tuple[int, int, str]


class Labels(NamedTuple):
    """What the network's outputs are indexed by: entity labels (span decoder output i +
    1; 0 is NoneEntity), relation types (relation decoder outputs), the tagging
    decoder's tags, and the symmetric relation types."""

    entities: Sequence[str]
    relations: Sequence[str]
    tags: Sequence[str]
    symmetric: Sequence[str] = ()

    @classmethod
    def from_data(cls, data: Dict[str, Any]) -> "Labels":
        """From the component's label data (``cfg["labels"]``, what ``spacy init
        labels`` writes).

        data (Dict[str, Any]): the label data.
        RETURNS (Labels): the label sets.
        """
        return cls(
            tuple(data["entities"]),
            tuple(data["relations"]),
            tuple(data["tags"]),
            tuple(data.get("symmetric", ())),
        )
