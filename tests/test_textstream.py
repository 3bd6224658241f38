"""Streaming detokenisation never prints half a UTF-8 character and adds up to the whole decode."""
from pathlib import Path

from tokenizers import Tokenizer

from edgekit.textstream import REPLACEMENT_CHAR, IncrementalDecoder

TOKENIZER = Path(__file__).parent / "fixtures" / "bitlinear-tied-gqa1" / "tokenizer.json"


def test_pieces_join_to_the_full_text_without_replacement_chars():
    tok = Tokenizer.from_file(str(TOKENIZER))
    text = "naïve café ✓ 日本語 — ok"
    ids = tok.encode(text, add_special_tokens=False).ids
    assert len(ids) > len(text) // 2  # the small vocabulary splits the multi-byte characters into bytes
    dec = IncrementalDecoder(tok)
    pieces = [dec.push(i) for i in ids] + [dec.flush()]
    assert all(REPLACEMENT_CHAR not in p for p in pieces)
    assert "".join(pieces) == tok.decode(ids)
