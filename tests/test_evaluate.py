import torch

from rnncalc.config import ModelConfig
from rnncalc.data import make_batch
from rnncalc.decode import greedy
from rnncalc.evaluate import evaluate, free_running_correct, teacher_forced_correct
from rnncalc.model import Seq2Seq


def test_free_running_needs_digits_then_end(task, vocab):
    batch = make_batch(torch.tensor([[155, 339], [1, 1]]), task, vocab)  # "494 ", "2 "
    pred = torch.tensor([[5, 10, 5, 0], [3, 3, 0, 0]])  # right; "22" is wrong
    assert free_running_correct(pred, batch).tolist() == [True, False]
    early = torch.tensor([[5, 10, 5, 5], [3, 0, 0, 0]])  # no END after 494; right
    assert free_running_correct(early, batch).tolist() == [False, True]


def test_teacher_forced_looks_only_up_to_the_length(task, vocab):
    batch = make_batch(torch.tensor([[1, 1]]), task, vocab)  # "2 "
    logits = torch.full((1, 5, 13), -9.0)
    logits[0, 0, 3] = logits[0, 1, 0] = 9.0  # "2", END; garbage after is ignored
    logits[0, 2:, 7] = 9.0
    assert teacher_forced_correct(logits, batch).tolist() == [True]


def test_exact_match_greedy_agrees_with_teacher_forced(task, vocab):
    """For whole-sequence exact match the two must agree: greedy only diverges after a mistake."""
    model = Seq2Seq(ModelConfig(hidden=16, embed=8)).eval()
    ops = torch.randint(0, 1000, (300, 2), generator=torch.Generator().manual_seed(0))
    m = evaluate(model, ops, task, vocab, teacher_forced=True)
    assert m.teacher_forced_wrong == m.wrong


def test_metrics_match_an_independent_loop(task, vocab):
    model = Seq2Seq(ModelConfig(hidden=16, embed=8)).eval()
    ops = torch.randint(0, 1000, (500, 2), generator=torch.Generator().manual_seed(1))
    m = evaluate(model, ops, task, vocab, batch_size=64, max_failures=1000)
    batch = make_batch(ops, task, vocab)
    wrong = 0
    for i, (a, b) in enumerate(ops.tolist()):
        ids = greedy(model, batch.src[i : i + 1], batch.src_len[i : i + 1], 5, vocab.start_id)
        wrong += vocab.decode(ids[0]) != str(a + b) or 0 not in ids[0].tolist()
    assert m.wrong == wrong == len(m.failures)
    assert sum(n for n, _ in m.by_length.values()) == 500 == sum(n for n, _ in m.by_carries.values())
    assert sum(w for _, w in m.by_carries.values()) == m.wrong


def test_exhaustive_slice_equals_calculator_loop_on_the_shipped_model(task, vocab):
    """The reported accuracy equals a plain loop asking the Calculator one string at a time."""
    from rnncalc.calculator import Calculator
    from rnncalc.data import all_operands

    calc = Calculator.load()
    ops = all_operands(task)[::397]  # 2,519 pairs spread over the whole space
    m = evaluate(calc.model, ops, task, vocab, max_failures=10_000)
    loop_wrong = sum(calc(f"{a}+{b}") != str(a + b) for a, b in ops.tolist())
    assert m.wrong == loop_wrong and m.n == len(ops)


def test_breakdown_on_hand_checked_expressions(task, vocab):
    model = Seq2Seq(ModelConfig(hidden=8, embed=4)).eval()
    ops = torch.tensor([[999, 1], [155, 339], [12, 34], [0, 0], [500, 500], [95, 5]])
    m = evaluate(model, ops, task, vocab)
    # result digits: 1000 -> 4, 494 -> 3, 46 -> 2, 0 -> 1, 1000 -> 4, 100 -> 3
    assert {k: n for k, (n, _) in m.by_length.items()} == {"1": 1, "2": 1, "3": 2, "4": 2}
    # carries: 999+1 -> 3, 155+339 -> 1, 12+34 -> 0, 0+0 -> 0, 500+500 -> 1, 95+5 -> 2
    assert {k: n for k, (n, _) in m.by_carries.items()} == {"0": 2, "1": 2, "2": 1, "3": 1}
