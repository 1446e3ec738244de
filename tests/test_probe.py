import pytest
import torch

from rnncalc import probe
from rnncalc.calculator import Calculator, ExpressionError
from rnncalc.config import ModelConfig
from rnncalc.data import encode_sources
from rnncalc.model import Seq2Seq


@pytest.fixture
def model(cell) -> Seq2Seq:
    return Seq2Seq(ModelConfig(cell=cell, hidden=16, embed=8, layers=2)).eval()


def _force_end(model: Seq2Seq, bias: float) -> Seq2Seq:
    """A large END bias stops the decoder at step 1; a very negative one lets it run to T."""
    with torch.no_grad():
        model.decoder.head.bias[0] = bias
    return model


@pytest.mark.parametrize("bias", [-50.0, 0.0, 50.0])
@pytest.mark.parametrize("expr", ["155+339", "5+7", "999+1"])
def test_emitted_symbols_are_the_calculators_answer(model, task, vocab, expr, bias):
    _force_end(model, bias)
    sp = probe.step_probs(model, task, vocab, expr)
    act = probe.activations(model, task, vocab, expr)
    answer = Calculator(model, task, vocab)(expr)
    for emitted in (sp.emitted, act.dec_symbols):
        assert "".join(emitted).removesuffix(" ") == answer
        # Ends at the first END, or runs the full T steps without one.
        assert (emitted[-1] == " " and " " not in emitted[:-1]) or (len(emitted) == task.tgt_len
                                                                    and " " not in emitted)
    if bias > 0:
        assert sp.emitted == [" "]
    if bias < 0:
        assert len(sp.emitted) == task.tgt_len


def test_step_probs_are_distributions_whose_argmax_was_emitted(model, task, vocab):
    sp = probe.step_probs(model, task, vocab, "155+339")
    T = len(sp.emitted)
    assert sp.probs.shape == (T, len(vocab)) and sp.symbols == list(vocab.symbols)
    assert torch.allclose(sp.probs.sum(dim=1), torch.ones(T))
    assert (sp.probs >= 0).all()
    assert [sp.symbols[i] for i in sp.probs.argmax(dim=1).tolist()] == sp.emitted


@pytest.mark.parametrize("reverse, read", [(True, "933+551"), (False, "155+339")])
def test_encoder_activations_follow_the_reading_order(task, vocab, reverse, read):
    model = Seq2Seq(ModelConfig(hidden=16, embed=8, layers=2, reverse_input=reverse)).eval()
    act = probe.activations(model, task, vocab, " 155 + 339 ")
    assert act.expr == "155+339" and "".join(act.enc_symbols) == read
    assert act.enc.shape == (2, 7, 16)


def test_padded_positions_are_absent(model, task, vocab):
    act = probe.activations(model, task, vocab, "5+7")
    assert act.enc.shape == (2, 3, 16) and act.enc_symbols == ["7", "+", "5"]
    # The last step read is the state handed to the decoder.
    src, src_len = encode_sources(torch.tensor([[5, 7]]), "+", task, vocab)
    with torch.no_grad():
        _, state = model.encoder(src, src_len)
    assert torch.allclose(act.enc[:, -1], torch.stack([s[0][0] for s in state]), atol=1e-6)


def test_decoder_activations_give_the_step_probs(model, task, vocab):
    act = probe.activations(model, task, vocab, "155+339")
    sp = probe.step_probs(model, task, vocab, "155+339")
    assert act.dec.shape == (2, len(act.dec_symbols), 16)
    with torch.no_grad():
        probs = model.decoder.head(act.dec[-1]).softmax(dim=-1)  # top layer -> (T, V)
    assert torch.allclose(probs, sp.probs, atol=1e-6)


@pytest.mark.parametrize("cell", ["gru"])
@pytest.mark.parametrize("expr", ["1234+5", "1+", "12-3", "", "１２＋"])
def test_bad_expressions_raise_expression_error(model, task, vocab, expr):
    with pytest.raises(ExpressionError):
        probe.activations(model, task, vocab, expr)
    with pytest.raises(ExpressionError):
        probe.step_probs(model, task, vocab, expr)


def test_final_states_are_the_encoders_top_layer(model, task, vocab):
    ops = torch.tensor([[155, 339], [5, 7], [0, 0], [999, 999]])
    h = probe.final_states(model, task, vocab, ops)
    src, src_len = encode_sources(ops, "+", task, vocab)
    with torch.no_grad():
        _, state = model.encoder(src, src_len)
    assert h.shape == (4, 16)
    assert torch.allclose(h, state[-1][0], atol=1e-6)


@pytest.mark.parametrize("cell", ["rnn"])
@pytest.mark.parametrize("ops", [torch.tensor([[1000, 1]]), torch.tensor([[-1, 1]]), torch.tensor([1, 2])])
def test_final_states_refuse_bad_operands(model, task, vocab, ops):
    with pytest.raises(ValueError):
        probe.final_states(model, task, vocab, ops)


def test_pca_2d_shapes_ratios_and_sign():
    g = torch.Generator().manual_seed(0)
    t = torch.randn(200, generator=g)
    direction = torch.tensor([0.1, -0.9, 0.3, 0.0, 0.2])  # largest loading negative
    x = t[:, None] * direction + 0.01 * torch.randn(200, 5, generator=g)  # (N, D)
    xy, explained = probe.pca_2d(x)
    assert xy.shape == (200, 2) and explained.shape == (2,)
    assert ((explained >= 0) & (explained <= 1)).all() and explained[0] >= explained[1]
    assert explained.sum() <= 1 + 1e-6 and explained[0] > 0.95
    assert torch.allclose(xy.mean(dim=0), torch.zeros(2), atol=1e-5)
    # The sign rule flips axis 1 to point along -direction, whatever the SVD returned.
    assert torch.corrcoef(torch.stack([xy[:, 0], -t]))[0, 1] > 0.99
    xy_neg, _ = probe.pca_2d(-x)
    assert torch.allclose(xy_neg, -xy, atol=1e-4)
    # Each axis's variance share matches its column's variance.
    total = (x - x.mean(0)).pow(2).sum()
    assert torch.allclose(xy.pow(2).sum(0) / total, explained, atol=1e-4)


def test_pca_2d_degenerate_inputs():
    xy, explained = probe.pca_2d(torch.ones(10, 4))  # no variance at all
    assert xy.shape == (10, 2) and explained.tolist() == [0.0, 0.0]
    xy, explained = probe.pca_2d(torch.arange(6.0)[:, None])  # D = 1: the second axis is empty
    assert xy[:, 1].eq(0).all() and explained.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("cell", ["lstm"])
def test_state_map_labels(model, task, vocab):
    ops = torch.tensor([[155, 339], [999, 1], [12, 34], [0, 0]])
    sm = probe.state_map(model, task, vocab, ops)
    assert sm.xy.shape == (4, 2) and sm.explained.shape == (2,)
    assert sm.results.tolist() == [494, 1000, 46, 0] and sm.carries.tolist() == [1, 3, 0, 0]
