"""Entities and relations of a Doc as displaCy HTML.

displaCy's manual dependency mode draws labelled arcs between "words"; each entity of ``doc.ents`` becomes one
word (its text, with the entity label underneath) and each relation an arc from the head entity to the tail.
A relation whose argument is a nested entity outside ``doc.ents`` attaches to the entity that contains it.
"""
from typing import Any, Dict, Iterable, List

from spacy import displacy
from spacy.tokens import Doc


def relation_graph(doc: Doc) -> Dict[str, Any]:
    """The displaCy manual-mode data: ``{"words": [{"text", "tag"}], "arcs": [{"start", "end", "label", "dir"}]}``."""
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
            continue  # both arguments inside one displayed entity: nothing to draw an arc between
        arcs.append({"start": min(head, tail), "end": max(head, tail), "label": rel["label"],
                     "dir": "right" if head < tail else "left"})
    return {"words": words, "arcs": arcs}


def render(docs: Iterable[Doc], page: bool = True) -> str:
    """HTML for the docs: their entities and relations as labelled arcs."""
    graphs = [relation_graph(doc) for doc in docs]
    return displacy.render(graphs, style="dep", manual=True, page=page,
                           options={"compact": False, "distance": 110, "offset_x": 60})
