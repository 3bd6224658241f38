"""Incremental detokenisation: token ids in, printable text pieces out, for every streaming path (the reference
engine's `generate`, device streams, chat).

Byte-level BPE tokens can split a UTF-8 character; decoding each token alone would print U+FFFD. We decode a short
window (from the last emitted boundary) and only emit text once it no longer ends in an incomplete sequence.
"""
from __future__ import annotations

REPLACEMENT_CHAR = "\ufffd"  # what a decoder emits for an incomplete UTF-8 sequence


def decode_ids(tokenizer, ids: list[int]) -> str:
    try:
        return tokenizer.decode(ids, skip_special_tokens=True)
    except TypeError:  # decode(ids) without keyword (e.g. edgekit Model)
        return tokenizer.decode(ids)


class IncrementalDecoder:
    """Token ids in, text pieces out, never splitting a multi-byte character.

    Byte-level BPE tokens may each carry part of one UTF-8 character; decoding them one by one would print
    replacement characters. We decode a short window (from the last emitted boundary) and only emit text
    once it no longer ends in an incomplete sequence."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self._prefix_start = 0  # window start: a token boundary before the last emitted text
        self._emitted_end = 0  # tokens whose text has been emitted

    def push(self, token_id: int) -> str:
        self.ids.append(int(token_id))
        prefix = decode_ids(self.tokenizer, self.ids[self._prefix_start:self._emitted_end])
        text = decode_ids(self.tokenizer, self.ids[self._prefix_start:])
        if len(text) > len(prefix) and not text.endswith(REPLACEMENT_CHAR):
            piece = text[len(prefix):]
            self._prefix_start, self._emitted_end = self._emitted_end, len(self.ids)
            return piece
        return ""

    def flush(self) -> str:
        """Whatever is still held back (an incomplete character at the very end shows as U+FFFD)."""
        prefix = decode_ids(self.tokenizer, self.ids[self._prefix_start:self._emitted_end])
        text = decode_ids(self.tokenizer, self.ids[self._prefix_start:])
        self._prefix_start = self._emitted_end = len(self.ids)
        return text[len(prefix):] if len(text) > len(prefix) else ""
