import pytest
import torch

from rnncalc.config import ConfigError, ModelConfig
from rnncalc.data import make_batch
from rnncalc.decode import greedy
from rnncalc.model import Seq2Seq, make_cell, tanh


def _model(cell, **kw):
    return Seq2Seq(ModelConfig(cell=cell, layers=2, hidden=12, embed=6, **kw)).eval()


def test_unknown_cell_lists_the_choices():
    with pytest.raises(ConfigError, match="gru.*lnlstm.*lstm.*rnn"):
        make_cell("transformer", 4, 4)


def test_tanh_equals_torchs_in_training_and_at_inference():
    x = torch.cat([torch.linspace(-30, 30, 10_001), torch.tensor([0.0, -0.0, 1e-8, -1e-8, 100.0, -100.0])])
    torch.testing.assert_close(tanh(x), torch.tanh(x), rtol=0, atol=0)
    with torch.inference_mode():
        fast = tanh(x)
    torch.testing.assert_close(fast, torch.tanh(x), rtol=0, atol=3e-7)
    assert fast.abs().max() <= 1 and torch.isnan(tanh(torch.tensor([float("nan")]))).all()


@pytest.mark.parametrize("inference", [False, True])
@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_split_step_equals_torchs_own_cell(kind, inference):
    """project + forward (the input half precomputed) computes what nn.XCell does, in
    training and at inference (where tanh is computed another way)."""
    cell = make_cell(kind, 5, 7)
    x, h, c = torch.randn(3, 5), torch.randn(3, 7), torch.randn(3, 7)
    state = (h, c) if kind == "lstm" else (h,)
    with torch.inference_mode(inference):
        ours = cell(cell.project(x), state)
        ref = cell.cell(x, state) if kind == "lstm" else (cell.cell(x, h),)
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b)


def test_layer_norm_lstm_split_step_equals_one_linear_over_input_and_state():
    cell = make_cell("lnlstm", 5, 7)
    x, h, c = torch.randn(3, 5), torch.randn(3, 7), torch.randn(3, 7)
    gates = cell.linear(torch.cat([x, h], dim=1)).view(3, 4, 7)
    i, f, g, o = (torch.nn.functional.layer_norm(gates, (7,)) * cell.gate_weight + cell.gate_bias).unbind(1)
    c_ref = f.sigmoid() * c + i.sigmoid() * g.tanh()
    h_ref = o.sigmoid() * cell.cell_norm(c_ref).tanh()
    h_new, c_new = cell(cell.project(x), (h, c))
    torch.testing.assert_close(h_new, h_ref)
    torch.testing.assert_close(c_new, c_ref)


def test_reading_tokens_equals_projecting_their_embeddings(cell):
    model = _model(cell)
    tokens = torch.tensor([[3, 0, 12], [5, 5, 1]])
    stack = model.encoder.stack
    torch.testing.assert_close(stack.read(tokens, model.embedding), stack.cells[0].project(model.embedding(tokens)))


def test_teacher_forced_forward_equals_stepping_the_decoder(cell, task, vocab):
    model = _model(cell)
    b = make_batch(torch.tensor([[155, 339], [7, 45]]), task, vocab)
    with torch.no_grad():
        _, state = model.encoder(b.src, b.src_len)
        stepped = []
        for t in range(b.tgt_in.shape[1]):
            logits, state = model.decoder.step(b.tgt_in[:, t], state)
            stepped.append(logits)
        torch.testing.assert_close(model(b.src, b.src_len, b.tgt_in), torch.stack(stepped, dim=1))


@pytest.mark.parametrize("reverse", [True, False])
def test_padding_never_changes_the_encoder_state(cell, task, vocab, reverse):
    model = _model(cell, reverse_input=reverse)
    short = make_batch(torch.tensor([[7, 45]]), task, vocab)  # "7+45", 3 pads
    mixed = make_batch(torch.tensor([[7, 45], [999, 999], [1, 2]]), task, vocab)
    junk = short.src.clone()
    junk[0, short.src_len[0]:] = torch.tensor([11, 5, 12])  # garbage where padding was
    with torch.no_grad():
        _, alone = model.encoder(short.src, short.src_len)
        _, batched = model.encoder(mixed.src, mixed.src_len)
        _, junked = model.encoder(junk, short.src_len)
    for s_alone, s_batched, s_junk in zip(alone, batched, junked):
        for a, b, j in zip(s_alone, s_batched, s_junk):
            torch.testing.assert_close(a[0], b[0])
            assert torch.equal(a, j)


def test_padding_never_changes_the_answer(cell, task, vocab):
    model = _model(cell)
    alone = make_batch(torch.tensor([[7, 45]]), task, vocab)
    mixed = make_batch(torch.tensor([[999, 999], [7, 45]]), task, vocab)
    a = greedy(model, alone.src, alone.src_len, 5, vocab.start_id)
    b = greedy(model, mixed.src, mixed.src_len, 5, vocab.start_id)
    assert a[0].tolist() == b[1, : a.shape[1]].tolist()


def test_reversal_reads_each_row_backwards_within_its_length(task, vocab):
    fwd = _model("gru", reverse_input=False)
    rev = _model("gru", reverse_input=True)
    rev.load_state_dict(fwd.state_dict())
    b = make_batch(torch.tensor([[155, 339], [7, 45]]), task, vocab)
    flipped = b.src.clone()
    for i, n in enumerate(b.src_len.tolist()):
        flipped[i, :n] = b.src[i, :n].flip(0)
    with torch.no_grad():
        _, s_rev = rev.encoder(b.src, b.src_len)
        _, s_fwd = fwd.encoder(flipped, b.src_len)
    torch.testing.assert_close(s_rev[-1][0], s_fwd[-1][0])


def test_dropout_is_off_at_inference(cell, task, vocab):
    model = _model(cell, dropout=0.5)
    b = make_batch(torch.tensor([[155, 339], [1, 2]]), task, vocab)
    with torch.no_grad():
        torch.testing.assert_close(model(b.src, b.src_len, b.tgt_in), model(b.src, b.src_len, b.tgt_in))
        model.train()
        assert not torch.equal(model(b.src, b.src_len, b.tgt_in), model(b.src, b.src_len, b.tgt_in))


def test_variational_mask_is_the_same_at_every_step(task, vocab):
    model = _model("lstm", dropout=0.5).train()
    seen = {i: [] for i in range(2)}
    for layer, cell in enumerate(model.encoder.stack.cells):
        cell.register_forward_pre_hook(lambda mod, args, layer=layer: seen[layer].append(args[1][0].clone()))
    b = make_batch(torch.tensor([[155, 339], [999, 999]]), task, vocab)
    with torch.no_grad():
        model.encoder(b.src, b.src_len)
    for layer, hs in seen.items():
        dropped = [h == 0 for h in hs[1:]]  # step 0 sees the zero initial state
        assert 0 < dropped[0].float().mean() < 1
        assert all(torch.equal(d, dropped[0]) for d in dropped)


def test_encoder_shapes(task, vocab):
    model = _model("lstm")
    b = make_batch(torch.tensor([[155, 339], [7, 45]]), task, vocab)
    outputs, state = model.encoder(b.src, b.src_len)
    assert outputs.shape == (2, 2, 7, 12)  # (L, B, S, H)
    assert outputs[:, 1, 4:].eq(0).all()  # past "7+45"
    assert len(state) == 2 and all(len(s) == 2 and s[0].shape == (2, 12) for s in state)
    assert model(b.src, b.src_len, b.tgt_in).shape == (2, 5, 13)  # (B, T, V)


def test_one_hot_embedding_is_fixed():
    model = Seq2Seq(ModelConfig(cell="rnn", embed=0, hidden=8))
    assert torch.equal(model.embedding.weight, torch.eye(13))
    assert not model.embedding.weight.requires_grad
