import pytest
import torch

from rnncalc.config import TaskConfig, TrainConfig
from rnncalc.data import (all_operands, count_carries, draw_training, encode_sources, epoch_order, length_mask,
                          make_batch, make_splits, notebook_operands, num_digits, pair_ids, pair_operands,
                          sample_operands)


@pytest.mark.parametrize("a, b, src, tgt_in, tgt_out", [
    (155, 339, "155+339", "=494", "494 "),
    (0, 0, "0+0", "=0", "0 "),
    (999, 999, "999+999", "=1998", "1998 "),
    (7, 45, "7+45", "=52", "52 "),
])
def test_example_builder(task, vocab, a, b, src, tgt_in, tgt_out):
    batch = make_batch(torch.tensor([[a, b]]), task, vocab)
    pad = lambda s, n: vocab.encode(s) + [0] * (n - len(s))  # noqa: E731
    assert batch.src[0].tolist() == pad(src, 7)
    assert batch.src_len.tolist() == [len(src)]
    assert batch.tgt_in[0].tolist() == pad(tgt_in, 5)
    assert batch.tgt_out[0].tolist() == pad(tgt_out, 5)
    assert batch.tgt_len.tolist() == [len(tgt_out)]  # digits + 1


def test_encoding_agrees_with_string_encoding_everywhere(task, vocab):
    g = torch.Generator().manual_seed(3)
    ops = sample_operands(500, task, "balanced", g)
    batch = make_batch(ops, task, vocab)
    for (a, b), src, n in zip(ops.tolist(), batch.src, batch.src_len):
        text = f"{a}+{b}"
        assert src[: len(text)].tolist() == vocab.encode(text) and int(n) == len(text)
        assert src[len(text):].eq(0).all()


def test_length_mask():
    assert length_mask(torch.tensor([2]), 5).tolist() == [[1, 1, 0, 0, 0]]  # target "2 "


def test_num_digits_and_carries():
    assert num_digits(torch.tensor([0, 9, 10, 999, 1000])).tolist() == [1, 1, 2, 3, 4]
    a = torch.tensor([999, 155, 12, 0, 95, 1])
    b = torch.tensor([1, 339, 34, 0, 5, 999])
    assert count_carries(a, b).tolist() == [3, 1, 0, 0, 2, 3]


def test_a_space_too_large_to_enumerate_is_refused():
    with pytest.raises(ValueError, match="1e\\+18 expressions, too many"):
        all_operands(TaskConfig(digits=9))


def test_all_operands_covers_each_pair_once(task):
    ops = all_operands(task)
    assert ops.shape == (1_000_000, 2)
    ids = pair_ids(ops, task)
    assert torch.equal(ids, torch.arange(1_000_000))  # ids are a bijection onto the space
    assert ops.min() == 0 and ops.max() == 999


def test_sampling_is_seeded(task):
    for kind in ("uniform", "balanced", "mixed"):
        a = sample_operands(100, task, kind, torch.Generator().manual_seed(5))
        b = sample_operands(100, task, kind, torch.Generator().manual_seed(5))
        assert torch.equal(a, b) and a.min() >= 0 and a.max() <= 999


def test_balanced_sampling_makes_short_operands_common(task):
    ops = sample_operands(30_000, task, "balanced", torch.Generator().manual_seed(0))
    share = torch.bincount(num_digits(ops).flatten(), minlength=4)[1:] / ops.numel()
    assert torch.allclose(share, torch.full((3,), 1 / 3), atol=0.02)


def test_notebook_stream_matches_numpy_legacy():
    import numpy as np

    rs = np.random.RandomState(37)
    first = (rs.randint(1000), rs.choice(["+"]), rs.randint(1000))
    assert notebook_operands(1, 37, TaskConfig()).tolist() == [[first[0], first[2]]]


def test_seed_preset_splits_replay_the_notebook_stream(task):
    cfg = TrainConfig(sampling="notebook", train_size=600, test_size=100)
    splits = make_splits(task, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(torch.cat([splits.train, splits.test]), notebook_operands(700, 37, task))
    assert not splits.held_out.any()


def test_held_out_pairs_are_never_trained_on(task):
    cfg = TrainConfig(train_size=50_000, test_size=5_000, sampling="mixed", resample=True, holdout=20_000)
    splits = make_splits(task, cfg, torch.Generator().manual_seed(0))
    assert int(splits.held_out.sum()) == 20_000 and splits.train is None
    assert splits.held_out[pair_ids(splits.test, task)].all()
    assert (num_digits(pair_operands(splits.held_out.nonzero().squeeze(1), task)) == 3).all()
    g = torch.Generator().manual_seed(1)
    for _ in range(3):  # a fresh draw per epoch, never from the held-out pairs
        train = draw_training(task, cfg, splits.held_out, g)
        assert train.shape == (50_000, 2) and not splits.held_out[pair_ids(train, task)].any()
    again = make_splits(task, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(again.held_out, splits.held_out) and torch.equal(again.test, splits.test)


def test_fixed_training_set_without_holdout(task):
    cfg = TrainConfig(train_size=1000, test_size=100, sampling="balanced")
    splits = make_splits(task, cfg, torch.Generator().manual_seed(0))
    assert splits.train.shape == (1000, 2) and splits.test.shape == (100, 2)


def test_one_epoch_visits_every_example_once_and_reshuffles():
    g = torch.Generator().manual_seed(0)
    first, second = epoch_order(1000, g), epoch_order(1000, g)
    assert sorted(first.tolist()) == list(range(1000)) == sorted(second.tolist())
    assert not torch.equal(first, second)
    assert torch.equal(epoch_order(1000, torch.Generator().manual_seed(0)), first)


def test_encode_sources_needs_no_answer(task, vocab):
    src, n = encode_sources(torch.tensor([[345, 111]]), "+", task, vocab)
    assert vocab.decode(src[0]) == "345+111" and n.tolist() == [7]
