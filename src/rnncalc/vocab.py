"""The symbol table: which character each token id stands for.

The indices are a file format (a checkpoint records its vocabulary), so the
default table is fixed: ' ' (END, also padding) = 0, '0'..'9' = 1..10,
'+' = 11, '=' (START) = 12.
"""

from __future__ import annotations

from dataclasses import dataclass

END = " "
START = "="
DIGITS = "0123456789"
DEFAULT_SYMBOLS = (END, *DIGITS, "+", START)


class VocabError(ValueError):
    """A vocabulary that is malformed, or text it cannot encode."""


@dataclass(frozen=True)
class Vocab:
    """An ordered tuple of single-character symbols; a symbol's id is its position.

    >>> v = Vocab()
    >>> v.encode("155+339")
    [2, 6, 6, 11, 4, 4, 10]
    >>> v.decode([5, 7, 7, 0, 0])
    '466'
    """

    symbols: tuple[str, ...] = DEFAULT_SYMBOLS

    def __post_init__(self) -> None:
        symbols = tuple(self.symbols)
        object.__setattr__(self, "symbols", symbols)
        if any(not isinstance(s, str) or len(s) != 1 for s in symbols):
            raise VocabError(f"every symbol must be one character, got {symbols!r}")
        if len(set(symbols)) != len(symbols):
            raise VocabError(f"symbols must be unique, got {symbols!r}")
        if not symbols or symbols[0] != END:
            raise VocabError(f"symbol 0 must be END {END!r}, got {symbols[:1]!r}")
        missing = [s for s in (*DIGITS, START) if s not in symbols]
        if missing:
            raise VocabError(f"vocabulary lacks required symbols {missing!r}")
        object.__setattr__(self, "_index", {s: i for i, s in enumerate(symbols)})

    def __len__(self) -> int:
        return len(self.symbols)

    @property
    def end_id(self) -> int:
        return 0

    @property
    def start_id(self) -> int:
        return self._index[START]

    @property
    def operators(self) -> tuple[str, ...]:
        """Symbols that are neither digits, END nor START: '+' for the default table."""
        return tuple(s for s in self.symbols if s not in DIGITS and s not in (END, START))

    def id(self, symbol: str) -> int:
        try:
            return self._index[symbol]
        except KeyError:
            raise VocabError(f"symbol {symbol!r} is not in the vocabulary") from None

    def encode(self, text: str) -> list[int]:
        return [self.id(ch) for ch in text]

    def decode(self, ids) -> str:
        """Symbols up to (not including) the first END; ids may be a list or a 1-D tensor."""
        out = []
        for i in (int(x) for x in ids):
            if i == self.end_id:
                break
            out.append(self.symbols[i])
        return "".join(out)

    def to_dict(self) -> dict:
        return {"symbols": list(self.symbols)}

    @classmethod
    def from_dict(cls, d: dict) -> Vocab:
        if set(d) != {"symbols"}:
            raise VocabError(f"vocabulary must have exactly the key 'symbols', got {sorted(d)}")
        return cls(tuple(d["symbols"]))
