"""The component a listener listens to must have run on the docs.

At inference a spacy-transformers ``TransformerListener`` reads ``doc._.trf_data`` and
spaCy's ``Tok2VecListener`` reads ``doc.tensor``, both written by the upstream component
(``transformer``, ``tok2vec``). When that component did not run (disabled with
``nlp.select_pipes(disable=[...])``, left out of ``nlp.pipe(..., disable=...)``, or a
Doc made by hand), both listeners quietly hand zeros downstream, and the model predicts
garbage. :func:`check_upstream` makes that an error naming the component instead.

A model whose listeners were replaced by an inline copy (``nlp.replace_listeners``) or
that has its own tok2vec has no listener, and nothing to check.
"""

from typing import Callable, Dict, Iterator, List, Tuple

from spacy.tokens import Doc
from thinc.api import Model


def _has_transformer_output(doc: Doc) -> bool:
    return Doc.has_extension("trf_data") and doc._.trf_data is not None


def _has_tok2vec_output(doc: Doc) -> bool:
    return doc.tensor is not None and doc.tensor.size > 0


# per listener layer (its name): what its upstream writes on a doc, how to tell that it
# did, and the name of the upstream component when the listener takes any ("*")
LISTENERS: Dict[str, Tuple[str, Callable[[Doc], bool], str]] = {
    "transformer-listener": ("doc._.trf_data", _has_transformer_output, "transformer"),
    "tok2vec-listener": ("doc.tensor", _has_tok2vec_output, "tok2vec"),
}


def listeners(model: Model) -> Iterator[Tuple[Model, Tuple]]:
    """The listener layers in ``model``, each with its entry of ``LISTENERS``.

    model (Model): the model.
    YIELDS (Tuple[Model, Tuple]): each listener and its entry.
    """
    for node in model.walk():
        if node.name in LISTENERS:
            yield node, LISTENERS[node.name]


def check_upstream(model: Model, docs: List[Doc], component: str) -> None:
    """Raise a ``ValueError`` naming the upstream component when a listener of ``model``
    would read nothing from one of ``docs``: that component has not run on it.

    model (Model): the component's model.
    docs (List[Doc]): the non-empty docs about to be predicted.
    component (str): the component's name, for the message.
    """
    for node, (attribute, has_output, default_name) in listeners(model):
        missing = [doc for doc in docs if not has_output(doc)]
        if not missing:
            continue
        upstream = getattr(node, "upstream_name", "*")
        name = default_name if upstream == "*" else upstream
        raise ValueError(
            f"[{component}] {len(missing)} of {len(docs)} docs have no {attribute}, e.g. "
            f"{missing[0].text[:60]!r}: the component {name!r} that {component!r} listens "
            f"to (upstream = {upstream!r}) has not run on them, so {component!r} would "
            f"predict from zeros. Enable it (nlp.select_pipes(disable=[{name!r}]) "
            f"disables it), run it first, or give {component!r} its own copy: "
            f"nlp.replace_listeners({name!r}, {component!r}, [...])"
        )
