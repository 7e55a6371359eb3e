"""A tiny BERT with random weights, built offline, for tests and smoke runs that need a
transformer but no hub."""

from pathlib import Path
from typing import Dict, List


def make_tiny_bert(out: Path, records: List[Dict], cased: bool = False) -> str:
    """A 2-layer, 32-wide BERT with random weights and a word-level vocabulary of
    ``records``' words, saved like a hub model in ``out``; its tokenizer lowercases
    unless ``cased``."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = {w if cased else w.lower() for r in records for w in r["tokens"]}
    chars = sorted({c for w in words for c in w})
    vocab = list(
        dict.fromkeys(
            ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
            + chars
            + ["##" + c for c in chars]
            + sorted(words)
        )
    )
    (out / "vocab.txt").write_text("\n".join(vocab), encoding="utf8")
    BertTokenizerFast(
        vocab_file=str(out / "vocab.txt"), do_lower_case=not cased
    ).save_pretrained(out)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(out)
    return str(out)
