"""Unit tests of the PyTorch network: span enumeration, range pooling, masking, and the
ablation switches."""

import pytest
import torch
from torch import nn

from spacy_stsn.nn import attention, heads, span_selection
from spacy_stsn.nn.attention import AttentionUnit, Packing
from spacy_stsn.nn.heads import (
    range_max,
    relation_logits,
    relation_logits_factored,
    span_logits_factored,
    span_representations,
)
from spacy_stsn.nn.stsn import STSN


def enumerate_spans(length: int, max_width: int) -> torch.Tensor:
    return torch.as_tensor(span_selection.enumerate_spans(length, max_width))


def test_enumerate_spans_counts_and_bounds():
    spans = enumerate_spans(5, 3)
    # widths 1..3 in 5 tokens: 5 + 4 + 3 spans
    assert spans.shape == (12, 2)
    assert set(map(tuple, spans.tolist())) == {
        (s, s + w) for w in (1, 2, 3) for s in range(0, 6 - w)
    }
    assert enumerate_spans(2, 10).tolist() == [[0, 1], [0, 2], [1, 2]]


def test_range_max_matches_naive_pooling():
    torch.manual_seed(0)
    hidden = torch.randn(2, 13, 4)
    starts = torch.tensor([[0, 3, 5, 7, 12], [2, 0, 6, 9, 1]])
    ends = torch.tensor([[13, 4, 5, 12, 13], [11, 8, 6, 3, 2]])
    pooled = range_max(hidden, starts, ends)
    for b in range(2):
        for p in range(5):
            s, e = int(starts[b, p]), int(ends[b, p])
            expected = hidden[b, s:e].max(0).values if e > s else torch.zeros(4)
            assert torch.allclose(pooled[b, p], expected)


def run_unit(
    unit: AttentionUnit, x: torch.Tensor, padding: torch.Tensor
) -> torch.Tensor:
    """The unit on a padded (B, T, d) batch: pack, attend, unpack (zeros at padding)."""
    packing = Packing((~padding).sum(-1), x.shape[1])
    return packing.unpack(unit(packing.pack(x), packing.pack(x), packing))


def _reference_unit(
    unit: AttentionUnit, x: torch.Tensor, padding: torch.Tensor, attn_mask=None
) -> torch.Tensor:
    """The unit written with ``nn.MultiheadAttention``'s own forward on the padded batch
    (the definition)."""
    attended, _ = unit.attention(
        x, x, x, key_padding_mask=padding, attn_mask=attn_mask, need_weights=False
    )
    hidden = unit.norm1(x + attended)
    return unit.norm2(hidden + unit.ffn(hidden))


def test_packing_round_trip_keeps_real_tokens_and_zeroes_padding():
    x = torch.randn(3, 5, 4)
    packing = Packing(torch.tensor([5, 2, 3]), 5)
    packed = packing.pack(x)
    assert packed.shape == (10, 4)
    assert torch.equal(packed[5:7], x[1, :2]) and torch.equal(packed[7:], x[2, :3])
    back = packing.unpack(packed)
    assert (
        torch.equal(back[~packing.padding], x[~packing.padding])
        and not back[packing.padding].any()
    )


def test_attention_unit_equals_multihead_attention_and_ignores_padding():
    torch.manual_seed(0)
    unit = AttentionUnit(8, 2, dropout=0.0).eval()
    x = torch.randn(2, 7, 8)
    padding = torch.tensor([[False] * 4 + [True] * 3, [False] * 7])
    x[0, 4:] *= 100  # padding with large values must not leak
    with torch.no_grad():
        out = run_unit(unit, x, padding)
        reference = _reference_unit(unit, x, padding)
        assert torch.allclose(
            out[0, :4], reference[0, :4], atol=1e-5
        ) and torch.allclose(out[1], reference[1], atol=1e-5)
        assert torch.allclose(
            out[0, :4], run_unit(unit, x[:1, :4], padding[:1, :4])[0], atol=1e-5
        )
        # without the mask, the padding does leak into the real positions
        assert not torch.allclose(
            out[0, :4], _reference_unit(unit, x[:1], None)[0, :4], atol=1e-3
        )


def test_attention_unit_gradients_match_multihead_attention_in_training_mode():
    torch.manual_seed(0)
    unit = AttentionUnit(8, 2, dropout=0.0).train()
    x = torch.randn(2, 6, 8)
    padding = torch.tensor([[False] * 3 + [True] * 3, [False] * 6])
    run_unit(unit, x, padding)[~padding].sum().backward()
    ours = [p.grad.clone() for p in unit.parameters()]
    unit.zero_grad()
    _reference_unit(unit, x, padding)[~padding].sum().backward()
    for mine, theirs in zip(ours, (p.grad for p in unit.parameters())):
        assert torch.allclose(mine, theirs, atol=1e-5)


def _param_names(**kwargs):
    return {
        name
        for name, _ in STSN(n_heads=2, **kwargs).build(8, 3, 2, 5).named_parameters()
    }


def test_full_model_has_three_units_per_layer_and_a_tag_decoder():
    names = _param_names(n_layers=3)
    for i in range(3):
        for unit in ("label_unit", "entity_unit", "relation_unit", "combine"):
            assert any(n.startswith(f"layers.{i}.{unit}.") for n in names), (i, unit)
    assert not any(n.startswith("layers.3.") for n in names)
    assert {"tag_decoder.weight", "project_l.weight", "width_embedding.weight"} <= names


def test_without_label_ablation_drops_layers_and_tag_decoder():
    names = _param_names(n_layers=0)
    assert not any(n.startswith(("layers.", "tag_decoder", "project_l")) for n in names)
    assert {
        "project_e.weight",
        "project_r.weight",
        "span_decoder.weight",
        "relation_decoder.weight",
    } <= names


@pytest.mark.parametrize("interaction", ["ner_to_re", "re_to_ner", "none"])
def test_interaction_ablations_drop_the_combination_ffn(interaction):
    full, ablated = (
        _param_names(n_layers=2),
        _param_names(n_layers=2, interaction=interaction),
    )
    assert full - ablated == {
        f"layers.{i}.combine.{p}" for i in range(2) for p in ("weight", "bias")
    }


@pytest.mark.parametrize("interaction", ["bi", "ner_to_re", "re_to_ner", "none"])
def test_interaction_changes_what_label_attention_sees(interaction):
    """H_L after one layer depends on H_E and H_R exactly as the ablation says."""
    torch.manual_seed(0)
    model = (
        STSN(n_layers=1, n_heads=2, interaction=interaction, dropout=0.0)
        .build(8, 3, 2, 5)
        .eval()
    )
    x = torch.randn(5, 8)  # one doc of 5 tokens, packed
    layer = model.layers[0]
    h_l, h_e, h_r = model.project_l(x), model.project_e(x), model.project_r(x)
    packing = Packing(torch.tensor([5]), 5)
    base = layer(h_l, h_e, h_r, packing)[0]
    changed_e = layer(h_l, h_e + 1.0, h_r, packing)[0]
    changed_r = layer(h_l, h_e, h_r + 1.0, packing)[0]
    sees_e = not torch.allclose(base, changed_e)
    sees_r = not torch.allclose(base, changed_r)
    assert (sees_e, sees_r) == {
        "bi": (True, True),
        "ner_to_re": (True, False),
        "re_to_ner": (False, True),
        "none": (False, False),
    }[interaction]


def test_extract_pairs_only_predicted_entities_and_respects_lengths():
    torch.manual_seed(0)
    model = (
        STSN(n_layers=1, n_heads=2, max_span_width=3, max_pair_entities=4)
        .build(8, 2, 3, 5)
        .eval()
    )
    with torch.no_grad():
        # force "entity" for every span by biasing the decoder away from NoneEntity
        model.span_decoder.bias[:] = torch.tensor([-50.0, 50.0, 0.0])
        tags, spans, span_probs, is_entity, pairs, pair_valid, rel = model.infer(
            torch.randn(2, 6, 8), torch.tensor([6, 2])
        )
    assert tags.shape == (2, 6, 5) and rel.shape[-1] == 3
    assert is_entity[1].sum() == 3  # spans of a 2-token doc: [0,1], [0,2], [1,2]
    assert bool((spans[1][is_entity[1]][:, 1] <= 2).all())
    assert pairs.shape[1] == 4 * 3  # capped at max_pair_entities
    head = torch.gather(is_entity[1], 0, pairs[1, :, 0])
    assert bool((head | ~pair_valid[1]).all())
    assert pair_valid[1].sum() == 3 * 2


def test_training_forward_shapes_and_gradients():
    model = STSN(n_layers=2, n_heads=2).build(8, 3, 2, 5).train()
    x = torch.randn(2, 7, 8, requires_grad=True)
    spans = torch.tensor([[[0, 2], [3, 4], [5, 7]], [[0, 1], [1, 3], [0, 1]]])
    pairs = torch.tensor([[[0, 1], [2, 0]], [[1, 0], [0, 0]]])
    tags, span_logits, rel_logits = model(x, torch.tensor([7, 3]), spans, pairs)
    assert (
        tags.shape == (2, 7, 5)
        and span_logits.shape == (2, 3, 4)
        and rel_logits.shape == (2, 2, 2)
    )
    (tags.sum() + span_logits.sum() + rel_logits.sum()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="interaction"):
        STSN(interaction="sideways")
    with pytest.raises(ValueError, match="divisible"):
        STSN(n_heads=8).build(12, 2, 2, 3)


def test_pair_chunking_does_not_change_relation_scores(monkeypatch):

    torch.manual_seed(0)
    model = STSN(n_layers=1, n_heads=2, max_span_width=2).build(8, 2, 3, 5).eval()
    with torch.no_grad():
        model.span_decoder.bias[:] = torch.tensor([-50.0, 50.0, 0.0])
        x, lengths = torch.randn(2, 5, 8), torch.tensor([5, 4])
        whole = model.infer(x, lengths)[-1]
        monkeypatch.setattr(heads, "PAIR_CHUNK", 3)
        chunked = model.infer(x, lengths)[-1]
    assert whole.shape[1] == 9 * 8 and torch.allclose(whole, chunked, atol=1e-6)


def _banded_reference(
    unit: AttentionUnit, x: torch.Tensor, padding: torch.Tensor
) -> torch.Tensor:
    """Full attention with a mask that allows exactly the keys of blocks i-1, i and i+1
    (the definition)."""
    block = torch.arange(x.shape[1]) // unit.window
    allowed = (block[:, None] - block[None, :]).abs() <= 1
    return _reference_unit(unit, x, padding, attn_mask=~allowed)


def test_blocked_attention_equals_banded_full_attention_and_full_attention_on_short_docs():
    torch.manual_seed(0)
    unit = AttentionUnit(8, 2, dropout=0.0, window=4).eval()
    x = torch.randn(2, 11, 8)
    padding = torch.zeros(2, 11, dtype=torch.bool)
    padding[1, 3:] = True  # the second doc has 3 tokens: whole blocks of it are padding
    with torch.no_grad():
        blocked = run_unit(unit, x, padding)
        assert torch.isfinite(blocked).all()
        assert torch.allclose(
            blocked[0], _banded_reference(unit, x[:1], padding[:1])[0], atol=1e-5
        )
        # a doc no longer than the window gets exactly the full attention, whatever it
        # is batched with
        full = AttentionUnit(8, 2, dropout=0.0, window=None).eval()
        full.load_state_dict(unit.state_dict())
        assert torch.allclose(
            blocked[1, :3], run_unit(full, x[1:, :3], padding[1:, :3])[0], atol=1e-5
        )
        # queries far apart do not see each other any more (the window is really local)
        changed = x.clone()
        changed[0, 10] += 5.0
        assert torch.allclose(
            run_unit(unit, changed, padding)[0, :4], blocked[0, :4], atol=1e-6
        )


@pytest.mark.parametrize("window, longest_keys", [(128, 3 * 128), (None, 4096)])
def test_long_documents_attend_within_the_window(window, longest_keys, monkeypatch):
    """Cost per query is bounded by the window: no attention call sees more than 3 *
    window keys, so the work grows linearly with the length (with window None it is the
    whole document, quadratic)."""
    torch.manual_seed(0)
    model = (
        STSN(n_layers=1, n_heads=2, max_span_width=3, attention_window=window)
        .build(16, 2, 2, 5)
        .eval()
    )
    key_lengths = []
    attend = attention.attend

    def counting_attend(query, key, *args):
        key_lengths.append(key.shape[1])
        return attend(query, key, *args)

    monkeypatch.setattr(attention, "attend", counting_attend)
    with torch.no_grad():
        h_l, h_e, h_r = model.encode(torch.randn(1, 4096, 16), torch.tensor([4096]))
    assert len(key_lengths) == 3 and max(key_lengths) == longest_keys
    assert h_l.shape == (1, 4096, 16) and torch.isfinite(h_r).all()


def test_factored_span_logits_equal_the_decoder_on_concatenated_representations():
    torch.manual_seed(0)
    model = STSN(n_layers=1, n_heads=2, max_span_width=4).build(8, 3, 2, 5).eval()
    h_e = torch.randn(2, 9, 8)
    spans = enumerate_spans(9, 4)[None].expand(2, -1, -1)
    with torch.no_grad():
        direct = model.span_decoder(
            span_representations(h_e, spans, model.width_embedding)
        )
        factored = span_logits_factored(
            h_e, spans, model.span_decoder, model.width_embedding
        )
        assert torch.allclose(factored, direct, atol=1e-5)


def test_under_bfloat16_autocast_the_layers_run_in_bfloat16_and_the_decoders_in_float32():
    """The pipeline's precision is an autocast around the module
    (spacy_stsn.ml.precision): at inference the stacked layers then compute in bfloat16
    and the decoders in float32, close to a float32 pass."""
    torch.manual_seed(0)
    model = STSN(n_layers=2, n_heads=2, max_span_width=3).build(16, 3, 2, 5).eval()
    x, lengths = torch.randn(2, 9, 16), torch.tensor([9, 5])
    dtypes = []
    model.layers[0].entity_unit.ffn.register_forward_hook(
        lambda mod, args, out: dtypes.append(out.dtype)
    )
    with torch.no_grad():
        reference = model.infer(x, lengths)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model.infer(x, lengths)
    assert dtypes == [torch.float32, torch.bfloat16]
    # the scores come out of float32 decoders
    assert all(out.dtype == ref.dtype for out, ref in zip(low, reference))
    valid = low[1][..., 1] <= lengths[:, None]
    diff = (low[2] - reference[2]).abs().max(-1).values[valid]
    assert 0 < diff.max() < 0.05  # really computed in another precision, and close


def test_factored_relation_logits_equal_the_decoder_on_concatenated_pair_representations(
    monkeypatch,
):
    """Inference scores each pair from per-entity parts plus a per-pair context;
    training's relation_logits concatenates [head; tail; context] per pair. Same
    numbers, in any chunking."""
    torch.manual_seed(0)
    model = STSN(n_layers=1, n_heads=2, max_span_width=4).build(8, 3, 2, 5).eval()
    h_r = torch.randn(2, 12, 8)
    # nested, adjacent (empty context), far apart, and a one-token span, in both orders
    entity_spans = torch.tensor(
        [[[0, 2], [2, 3], [5, 9], [10, 11]], [[1, 4], [4, 5], [6, 7], [0, 1]]]
    )
    head, tail = (
        idx.reshape(-1)
        for idx in torch.meshgrid(torch.arange(4), torch.arange(4), indexing="ij")
    )
    parts = (model.relation_decoder, model.width_embedding)
    with torch.no_grad():
        direct = relation_logits(
            h_r, entity_spans[:, head], entity_spans[:, tail], *parts, model.dropout
        )
        factored = relation_logits_factored(h_r, entity_spans, head, tail, *parts)
        assert torch.allclose(factored, direct, atol=1e-5)
        monkeypatch.setattr(heads, "PAIR_CHUNK", 3)
        factored = relation_logits_factored(h_r, entity_spans, head, tail, *parts)
        assert torch.allclose(factored, direct, atol=1e-5)


def test_packing_without_padding_is_a_reshape_and_attention_gets_no_mask():
    x = torch.randn(2, 5, 4)
    packing = Packing(torch.tensor([5, 5]), 5)
    assert packing.index is None and packing.mask is None and not packing.padding.any()
    assert torch.equal(packing.pack(x), x.reshape(10, 4))
    assert torch.equal(packing.unpack(packing.pack(x)), x)
    padded = Packing(torch.tensor([5, 3]), 5)
    assert padded.index is not None and torch.equal(padded.mask, padded.padding)


def test_attention_unit_without_padding_equals_multihead_attention():
    torch.manual_seed(0)
    unit = AttentionUnit(8, 2, dropout=0.0).eval()
    x = torch.randn(1, 7, 8)
    padding = torch.zeros(1, 7, dtype=torch.bool)
    with torch.no_grad():
        assert torch.allclose(
            run_unit(unit, x, padding), _reference_unit(unit, x, padding), atol=1e-6
        )


def test_extract_of_one_document_equals_the_same_document_in_a_padded_batch():
    """A batch of one has no padding (packing is a reshape, attention unmasked); the
    same document next to a longer one goes through the gather/scatter and the key mask:
    the same predictions."""
    torch.manual_seed(0)
    model = STSN(n_layers=2, n_heads=2, max_span_width=3).build(8, 2, 3, 5).eval()
    with torch.no_grad():
        # some spans entities, some not
        model.span_decoder.bias[:] = torch.tensor([1.0, 0.0, 0.0])
        doc, other = torch.randn(1, 6, 8), torch.randn(1, 9, 8)
        alone = model.infer(doc, torch.tensor([6]), nested_threshold=None)
        batch = model.infer(
            torch.cat([nn.functional.pad(doc, (0, 0, 0, 3)), other]),
            torch.tensor([6, 9]),
            nested_threshold=None,
        )
    n_spans = alone.spans.shape[1]
    in_doc = batch.spans[0, :, 1] <= 6
    assert torch.equal(batch.spans[0][in_doc], alone.spans[0])
    assert torch.allclose(batch.span_probs[0][in_doc], alone.span_probs[0], atol=1e-6)
    assert (
        torch.equal(batch.is_entity[0][in_doc], alone.is_entity[0])
        and alone.is_entity.any()
    )
    assert torch.allclose(batch.tag_probs[0, :6], alone.tag_probs[0], atol=1e-6)
    assert n_spans == int(in_doc.sum())

    def relations(out, row):
        valid = out.pair_valid[row]
        pairs = out.spans[row][out.pairs[row][valid]].tolist()
        return {
            (tuple(h), tuple(t)): p
            for (h, t), p in zip(pairs, out.rel_probs[row][valid].tolist())
        }

    expected, got = relations(alone, 0), relations(batch, 0)
    assert got.keys() == expected.keys() and len(expected) > 0
    assert all(
        abs(torch.tensor(got[key]) - torch.tensor(expected[key])).max() < 1e-5
        for key in expected
    )


def test_cached_spans_and_pairs_equal_their_definitions_and_are_ordinary_tensors():
    with torch.inference_mode():  # first built in inference mode, as at predict time
        spans = span_selection.candidate_spans(7, 3, torch.device("cpu"))
        first, second = span_selection.pair_indices(4, torch.device("cpu"))
    assert torch.equal(spans, enumerate_spans(7, 3)) and not spans.is_inference()
    # built once
    assert span_selection.candidate_spans(7, 3, torch.device("cpu")) is spans
    expected = [(i, j) for i in range(4) for j in range(4) if i != j]
    assert (
        list(zip(first.tolist(), second.tolist())) == expected
        and not first.is_inference()
    )
    assert span_selection.pair_indices(1, torch.device("cpu"))[0].shape == (0,)


def test_no_pairs_give_an_empty_relation_tensor():
    model = STSN(n_layers=1, n_heads=2, max_span_width=2).build(8, 2, 3, 5).eval()
    empty = torch.zeros(0, dtype=torch.long)
    with torch.no_grad():
        out = relation_logits_factored(
            torch.randn(2, 4, 8),
            torch.zeros(2, 1, 2, dtype=torch.long),
            empty,
            empty,
            model.relation_decoder,
            model.width_embedding,
        )
    assert out.shape == (2, 0, 3)
