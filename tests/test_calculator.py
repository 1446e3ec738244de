"""The validator and the calculator on the shipped model (package data, trained once, committed)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnncalc import checkpoint
from rnncalc.calculator import Calculator, ExpressionError, parse_expression, pretrained_path
from rnncalc.config import TaskConfig

TASK = TaskConfig()


@pytest.fixture(scope="module")
def calc() -> Calculator:
    return Calculator.load()


@pytest.mark.parametrize("text, parsed", [
    ("155+339", (155, "+", 339)),
    ("  155 + 339\n", (155, "+", 339)),  # whitespace around the expression and the operator
    ("007+5", (7, "+", 5)),  # leading zeros: same number
    ("0000+0", (0, "+", 0)),
    ("0" * 5000 + "1+1", (1, "+", 1)),  # longer than int() takes: zeros are dropped first
    ("１５５＋３３９", (155, "+", 339)),  # full-width forms
    ("\u3000155\u00a0+\u2009339", (155, "+", 339)),  # ideographic, no-break and thin spaces
])
def test_canonical_forms(text, parsed):
    assert parse_expression(text, TASK) == parsed


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("   ", "empty"),
    ("12a+3", "unexpected character 'a' at position 3"),
    ("1234+5", "more than 3 digits"),
    ("5+0001234", "more than 3 digits"),
    ("+12", "expected"),
    ("1++2", "expected"),
    ("12-3", "operator '-' is not supported"),
    ("12*3", "operator '\\*' is not supported"),
    ("1 2+3", "a space inside a number"),
    ("5000" + "0" * 5000 + "+1", "more than 3 digits"),
    ("١٢+٣", "not an ASCII digit"),  # Arabic-Indic digits
    ("12+3\x00", "control character"),
    ("\ufeff1+2", "invisible or control character"),
    ("-1+2", "unexpected character '-'"),
    ("1.5+2", "unexpected character '.'"),
    ("3²+1", "'²' is not an ASCII digit"),  # NFKC would read 32+1
    ("₁₂+₃", "'₁' is not an ASCII digit"),
    ("⑩+1", "unexpected character '⑩'"),
    ("1⁺2", "operator '⁺' is not supported"),  # NFKC would read 1+2
    ("Ⅻ+1", "unexpected character 'Ⅻ'"),  # named as typed, not as its compatibility form 'XII'
])
def test_bad_expressions_say_what_is_wrong(text, message):
    with pytest.raises(ExpressionError, match=message):
        parse_expression(text, TASK)


def test_error_is_a_value_error():
    assert issubclass(ExpressionError, ValueError)


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.from_regex(r"\s*\d{1,4}\s*.\s*\d{1,4}\s*"))
def test_any_string_parses_or_raises_expression_error(text):
    try:
        a, op, b = parse_expression(text, TASK)
    except ExpressionError as e:
        assert str(e)
    else:
        assert op == "+" and 0 <= a <= 999 and 0 <= b <= 999


def test_shipped_model_answers(calc):
    assert [calc(e) for e in ("155+339", "345+111", "999+999", "0+0")] == ["494", "456", "1998", "0"]


def test_batch_equals_one_by_one(calc):
    exprs = ["1+1", "999+1", "500+500", "7+45", "12+988"]
    assert calc.calc_many(exprs) == [calc(e) for e in exprs] == ["2", "1000", "1000", "52", "1000"]


@pytest.mark.parametrize("method", ["calc_many", "try_many"])
def test_a_bare_string_is_not_taken_for_a_list_of_characters(calc, method):
    with pytest.raises(ExpressionError, match="takes a list of expressions"):
        getattr(calc, method)("1+1")


def test_try_many_keeps_good_answers_in_order(calc):
    out = calc.try_many(["1+2", "oops", "3+4", "1234+1"])
    assert out[0] == "3" and out[2] == "7"
    assert isinstance(out[1], ExpressionError) and isinstance(out[3], ExpressionError)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 999), st.integers(0, 999))
def test_shipped_model_agrees_with_arithmetic(calc, a, b):
    assert calc(f"{a}+{b}") == str(a + b)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=10))
def test_any_string_gets_digits_or_expression_error(calc, text):
    try:
        answer = calc(text)
    except ExpressionError:
        return
    assert answer.isdigit() and answer.isascii()


def test_shipped_checkpoint_is_small_and_records_its_accuracy():
    files = {p.name: p.stat().st_size for p in pretrained_path().iterdir() if not p.name.startswith("_")}
    assert set(files) == {"config.json", "model.safetensors"}
    assert sum(files.values()) < 2_000_000
    assert "exhaustive" in checkpoint.load(pretrained_path()).metrics
