import pytest

from rnncalc.vocab import Vocab, VocabError


def test_default_indices_are_the_file_format():
    v = Vocab()
    assert v.symbols == (" ", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "=")
    assert (v.end_id, v.id("0"), v.id("9"), v.id("+"), v.start_id) == (0, 1, 10, 11, 12)
    assert len(v) == 13
    assert v.operators == ("+",)


def test_encode_decode_round_trip():
    v = Vocab()
    assert v.encode("155+339") == [2, 6, 6, 11, 4, 4, 10]
    assert v.decode(v.encode("155+339")) == "155+339"
    assert v.decode([5, 10, 5, 0, 3, 3]) == "494"  # cut at the first END
    assert v.decode([]) == ""


def test_dict_round_trip():
    v = Vocab()
    assert Vocab.from_dict(v.to_dict()) == v


@pytest.mark.parametrize("symbols", [
    ("0", " ", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "="),  # END not first
    (" ", "0", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "="),  # duplicate
    (" ", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+"),  # no START
    (" ", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "=="),  # not one character
])
def test_malformed_vocab_is_refused(symbols):
    with pytest.raises(VocabError):
        Vocab(symbols)


def test_unknown_symbol_names_it():
    with pytest.raises(VocabError, match="'a'"):
        Vocab().encode("1a")
