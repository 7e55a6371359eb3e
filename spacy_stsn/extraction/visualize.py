"""Entities and relations of a Doc as displaCy HTML.

Each document is drawn twice, one above the other: displaCy's span view highlights every
entity of the span group (nested ones included, stacked, with their labels), and
displaCy's manual dependency mode draws the relations as labelled arcs. In the arc view
each entity of ``doc.ents`` becomes one word (its text, with the entity label
underneath); a relation whose argument is a nested entity outside ``doc.ents`` attaches
to the entity that contains it.
"""

from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from spacy import displacy
from spacy.displacy.templates import TPL_PAGE
from spacy.tokens import Doc

from ..files import write_text
from ..pipeline.annotations import DEFAULT_SPANS_KEY

# displaCy's default arc view puts word centres 110 px apart and draws 16 px Arial:
# about 9 px a character
MIN_DISTANCE, PX_PER_CHAR = 110, 9


def relation_graph(doc: Doc) -> Dict[str, Any]:
    """The displaCy manual-mode data: ``{"words": [{"text", "tag"}], "arcs": [{"start",
    "end", "label", "dir"}]}``."""
    words: List[Dict[str, str]] = []
    word_of_token: List[int] = []
    i = 0
    ents = {ent.start: ent for ent in doc.ents}
    while i < len(doc):
        if i in ents:
            ent = ents[i]
            words.append({"text": ent.text, "tag": ent.label_})
            word_of_token.extend([len(words) - 1] * len(ent))
            i = ent.end
        else:
            words.append({"text": doc[i].text, "tag": ""})
            word_of_token.append(len(words) - 1)
            i += 1
    arcs = []
    for rel in doc._.relations:
        head, tail = word_of_token[rel["head"][0]], word_of_token[rel["tail"][0]]
        if head == tail:
            # both arguments inside one displayed entity: nothing to draw an arc between
            continue
        arcs.append(
            {
                "start": min(head, tail),
                "end": max(head, tail),
                "label": rel["label"],
                "dir": "right" if head < tail else "left",
            }
        )
    return {"words": words, "arcs": arcs}


def arc_distance(graph: Dict[str, Any]) -> int:
    """Spacing of the arc view's words, wide enough that the longest neighbouring pair
    does not overlap."""
    lengths = [len(word["text"]) for word in graph["words"]]
    widest = max((a + b for a, b in zip(lengths, lengths[1:])), default=0)
    return max(MIN_DISTANCE, PX_PER_CHAR * (widest + 2) // 2)


def render(
    docs: Iterable[Doc], page: bool = True, spans_key: str = DEFAULT_SPANS_KEY
) -> str:
    """HTML for the docs: entities highlighted (span view), then relations as labelled
    arcs (arc view)."""
    parts = []
    for doc in docs:
        graph = relation_graph(doc)
        if spans_key in doc.spans:
            parts.append(
                displacy.render(
                    doc, style="span", options={"spans_key": spans_key}, page=False
                )
            )
        first = len(graph["words"][0]["text"]) if graph["words"] else 0
        options = {
            "compact": False,
            "distance": arc_distance(graph),
            "offset_x": max(60, PX_PER_CHAR * first // 2 + 10),
        }
        parts.append(
            displacy.render(
                graph, style="dep", manual=True, page=False, options=options
            )
        )
    html = "\n".join(parts)
    return TPL_PAGE.format(lang="en", dir="ltr", content=html).strip() if page else html


class FirstDocs:
    """A writer (``write(doc, meta, line)``, ``flush()``, a context manager) that also
    keeps the first ``n`` documents written through it, for :meth:`render`: the
    documents the run annotated, in its precision, not annotated again."""

    def __init__(self, writer: Any, n: int) -> None:
        self.writer, self.n, self.docs = writer, n, []

    def __enter__(self) -> "FirstDocs":
        self.writer.__enter__()
        return self

    def write(self, doc: Doc, meta: Dict[str, Any], line: Optional[int] = None) -> None:
        self.writer.write(doc, meta, line)
        if len(self.docs) < self.n:
            self.docs.append(doc)

    def flush(self) -> None:
        self.writer.flush()

    def __exit__(self, *exc: Any) -> None:
        self.writer.__exit__(*exc)

    def render(self, path: Path, spans_key: str = DEFAULT_SPANS_KEY) -> None:
        """The kept documents as a displaCy page (:func:`render`), written whole or not
        at all."""
        write_text(path, render(self.docs, spans_key=spans_key))
