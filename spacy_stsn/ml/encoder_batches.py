"""A transformer's inference in batches of similar length, not one padded batch.

spacy-transformers encodes all spans of the docs it is given in one call, padded to the
longest. For sentence-level documents that is what its ``pipe`` already batches by
length; for one long text it is every span of the text at once: all sentences padded to
the longest one (:mod:`spacy_stsn.pipeline.transformer_spans`), or thousands of strided
windows in one batch (4.5 GiB of working memory at 1 MB of text). At inference, a batch
of more than ``max_items`` padded word pieces is run here in chunks of similar length,
each trimmed to its longest row and holding at most ``max_items`` padded word pieces
(the rule of :func:`spacy_stsn.ml.rows.chunk_rows`), and the outputs are put back in
the batch's order and padding. A batch within ``max_items`` is run as one call, as
before. Training (``begin_update``) is not touched.
"""

from typing import Any, List

import numpy
import torch
from thinc.api import ArgsKwargs

from .rows import chunk_rows

# padded word pieces per encoder call at inference; spacy-transformers' pipe groups
# sentence-level docs by 4096 padded tokens, which mostly stays below it
MAX_ITEMS = 8192


def predict_by_length(
    module: torch.nn.Module, inputs: ArgsKwargs, max_items: int = MAX_ITEMS
) -> Any:
    """``module(**inputs.kwargs)`` run in chunks of similar length when the batch is
    larger than ``max_items`` padded word pieces.

    module (torch.nn.Module): a Hugging Face encoder (called with ``input_ids``,
        ``attention_mask``, ...; any other module is called as it is).
    inputs (ArgsKwargs): the shim's inputs.
    max_items (int): the most padded word pieces in one call.
    RETURNS (Any): the module's output, as one call over the whole batch gives it
        (sequence outputs padded with zeros past each chunk's longest row).
    """
    kwargs = inputs.kwargs
    mask = kwargs.get("attention_mask")
    if inputs.args or not _chunkable(module, kwargs, mask, max_items):
        return module(*inputs.args, **kwargs)
    n, width = mask.shape
    # one read of the lengths from the device per call, to plan the chunks
    lengths = mask.sum(1).cpu().numpy()
    chunks = chunk_rows(lengths, max_items)
    outputs = []
    for rows in chunks:
        index = torch.as_tensor(rows, device=mask.device)
        length = max(1, int(lengths[rows].max()))
        outputs.append(module(**{k: v[index, :length] for k, v in kwargs.items()}))
    order = torch.as_tensor(numpy.concatenate(chunks), device=mask.device)
    first = outputs[0]
    merged = {
        key: _merge([out[key] for out in outputs], order, width) for key in first.keys()
    }
    return type(first)(**merged)


def _chunkable(module: Any, kwargs: dict, mask: Any, max_items: int) -> bool:
    """Whether the call is a padded batch of a Hugging Face encoder larger than
    ``max_items``, whose outputs :func:`_merge` can put back together."""
    if not isinstance(mask, torch.Tensor) or mask.dim() != 2:
        return False
    if mask.numel() <= max_items or mask.shape[0] < 2:
        return False
    config = getattr(module, "config", None)
    if config is None or getattr(config, "output_attentions", False):
        return False
    return all(
        isinstance(v, torch.Tensor) and tuple(v.shape[:2]) == tuple(mask.shape)
        for v in kwargs.values()
    )


def _merge(parts: List[Any], order: torch.Tensor, width: int) -> Any:
    """The chunks' values of one output field as one batch in the original order:
    sequence tensors (rows, length, dim) padded to ``width``, pooled ones (rows, dim)
    concatenated; tuples (hidden states) field by field."""
    if isinstance(parts[0], tuple):
        return tuple(_merge(list(items), order, width) for items in zip(*parts))
    if parts[0].dim() == 3:
        parts = [
            torch.nn.functional.pad(p, (0, 0, 0, width - p.shape[1])) for p in parts
        ]
    stacked = torch.cat(parts)
    merged = torch.empty_like(stacked)
    merged[order] = stacked
    return merged
