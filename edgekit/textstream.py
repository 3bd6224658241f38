"""Incremental detokenisation: turn a stream of token ids into printable text pieces.

Byte-level BPE tokens can split a UTF-8 character; decoding each token alone would print U+FFFD. We decode the
whole tail since the last clean boundary and emit only what became stable.
"""
from __future__ import annotations

REPLACEMENT = "\ufffd"


class TextStream:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.emitted = 0  # characters of decode(ids) already returned

    def _decode(self) -> str:
        if self.tokenizer is None:
            return "".join(f" {i}" for i in self.ids)
        return self.tokenizer.decode(self.ids, skip_special_tokens=False)

    def push(self, token_id: int) -> str:
        """Add a token; return the newly stable text (may be empty while a character is incomplete)."""
        self.ids.append(int(token_id))
        text = self._decode()
        if text.endswith(REPLACEMENT):
            return ""
        piece = text[self.emitted:]
        self.emitted = len(text)
        return piece

    def flush(self) -> str:
        text = self._decode()
        piece = text[self.emitted:]
        self.emitted = len(text)
        return piece

    @property
    def text(self) -> str:
        return self._decode()
