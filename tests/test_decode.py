import pytest
import torch

from rnncalc.config import ModelConfig, TaskConfig
from rnncalc.data import all_operands, make_batch
from rnncalc.decode import encode_shared, greedy, lexicographic_order
from rnncalc.model import Seq2Seq


def _model(cell, **kw):
    return Seq2Seq(ModelConfig(cell=cell, layers=2, hidden=12, embed=6, **kw)).eval()


def test_lexicographic_order_worked_example():
    assert lexicographic_order(torch.tensor([[2, 1], [1, 5], [1, 2]]), 13).tolist() == [2, 1, 0]


@pytest.mark.parametrize("base, width", [(13, 7), (13, 19), (1000, 13), (2, 70)])
def test_lexicographic_order_equals_pythons_sort(base, width):
    """Wider rows than one int64 key holds (13^19, 1000^13, 2^70) sort in several passes."""
    g = torch.Generator().manual_seed(base + width)
    rows = torch.randint(0, base, (500, width), generator=g)
    rows[100:200, : width // 2] = rows[0, : width // 2]  # long shared prefixes
    rows[300] = rows[301]  # a duplicate
    order = lexicographic_order(rows, base)
    assert [rows[i].tolist() for i in order] == sorted(rows.tolist())


def _assert_same_states(model, batch):
    with torch.no_grad():
        _, plain = model.encoder(batch.src, batch.src_len)
    shared = encode_shared(model.encoder, batch.src, batch.src_len)
    for p_layer, s_layer in zip(plain, shared, strict=True):
        for p, s in zip(p_layer, s_layer, strict=True):
            torch.testing.assert_close(p, s)


def test_prefix_sharing_encoder_equals_the_plain_one(cell, task, vocab):
    ops = torch.cat([torch.randint(0, 1000, (200, 2), generator=torch.Generator().manual_seed(0)),
                     torch.tensor([[7, 45], [7, 46], [0, 0], [999, 999], [7, 45]])])
    _assert_same_states(_model(cell), make_batch(ops, task, vocab))


@pytest.mark.parametrize("reverse", [True, False])
def test_prefix_sharing_on_a_block_of_the_exhaustive_space(task, vocab, reverse):
    """As `evaluate` feeds it: every pair for a few values of one operand, most prefixes shared."""
    ops = all_operands(task)
    ops = ops[(ops[:, 1 if reverse else 0] < 3)]
    _assert_same_states(_model("lstm", reverse_input=reverse), make_batch(ops, task, vocab))


def test_prefix_sharing_with_expressions_longer_than_one_sort_key(vocab):
    task = TaskConfig(digits=9)  # S = 19 symbols: two int64 keys per row
    ops = torch.randint(0, 10**9, (300, 2), generator=torch.Generator().manual_seed(2))
    ops[:100, 0] = 123_456_789
    ops[100:150] = torch.randint(0, 100, (50, 2), generator=torch.Generator().manual_seed(3))
    _assert_same_states(_model("gru"), make_batch(ops, task, vocab))


def test_greedy_answer_does_not_depend_on_the_rest_of_the_batch(task, vocab):
    model = _model("lstm")
    ops = all_operands(task)[::997]
    batch = make_batch(ops, task, vocab)
    together = greedy(model, batch.src, batch.src_len, 5, vocab.start_id)
    for i in range(0, len(ops), 97):
        alone = greedy(model, batch.src[i : i + 1], batch.src_len[i : i + 1], 5, vocab.start_id)
        assert together[i, : alone.shape[1]].tolist() == alone[0].tolist()
        assert together[i, alone.shape[1] :].eq(0).all()
