"""GGUF tokenizer metadata -> a `tokenizers.Tokenizer`, so a GGUF model chats without a tokenizer.json.

llama.cpp's "gpt2" tokenizer model is byte-level BPE: `tokenizer.ggml.tokens` are the vocabulary in
byte-level form (the same strings tokenizer.json's model.vocab holds), `tokenizer.ggml.merges` are
"left right" pairs in rank order, `tokenizer.ggml.token_type` marks control (3) and user-defined (4)
tokens, and `tokenizer.ggml.pre` names the pre-tokenizer split rule.
"""
from __future__ import annotations

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.loaders.gguf_file import GGUFFile

TOKEN_TYPE_CONTROL = 3
TOKEN_TYPE_USER_DEFINED = 4

# The Llama 3 split rule (BitNet b1.58 2B4T uses the Llama 3 tokenizer); llama.cpp calls it "llama-bpe".
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_PRE_NAMES = ("llama-bpe", "llama3", "llama-v3", "smaug-bpe")
GPT2_PRE_NAMES = (None, "default", "gpt-2", "gpt2")


def tokenizer_from_gguf(gf: GGUFFile):
    """The file's tokenizer, or None when it has none (the model then takes token ids only)."""
    md = gf.metadata
    kind = md.get("tokenizer.ggml.model")
    if kind is None:
        return None
    if kind != "gpt2":
        raise EdgekitError(f"tokenizer model {kind!r} is not supported (edgekit reads byte-level BPE, \"gpt2\")",
                           path=gf.path, fix="put the model's tokenizer.json beside an HF checkpoint instead")
    tokens = md.get("tokenizer.ggml.tokens")
    merges = md.get("tokenizer.ggml.merges", [])
    types = md.get("tokenizer.ggml.token_type")
    pre = md.get("tokenizer.ggml.pre")
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
        raise EdgekitError("tokenizer.ggml.tokens is missing or not a list of strings", path=gf.path)
    if not isinstance(merges, list) or not all(isinstance(m, str) and " " in m for m in merges):
        raise EdgekitError("tokenizer.ggml.merges is not a list of \"left right\" strings", path=gf.path)
    if types is not None and (not isinstance(types, np.ndarray) or types.shape != (len(tokens),)):
        raise EdgekitError("tokenizer.ggml.token_type does not have one entry per token", path=gf.path)
    if pre not in GPT2_PRE_NAMES + LLAMA3_PRE_NAMES:
        raise EdgekitError(f"tokenizer pre-tokenizer {pre!r} is not supported "
                           f"(known: gpt-2, {', '.join(LLAMA3_PRE_NAMES)})", path=gf.path)

    bos_id = md.get("tokenizer.ggml.bos_token_id")
    add_bos = md.get("tokenizer.ggml.add_bos_token") is True and type(bos_id) is int and 0 <= bos_id < len(tokens)
    try:
        tokenizer = _build_byte_level_bpe(tokens, merges, types, llama3=pre in LLAMA3_PRE_NAMES)
        if add_bos:
            # llama.cpp prepends BOS when add_bos_token is set; tokenizer.json says the same with a template
            # (Llama 3's own: "<|begin_of_text|> $A"), so encode(text) gives the ids llama.cpp would.
            from tokenizers.processors import TemplateProcessing

            bos = tokens[bos_id]
            tokenizer.post_processor = TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B:1",
                                                          special_tokens=[(bos, bos_id)])
        return tokenizer
    except Exception as e:  # tokenizers raises bare Exceptions, e.g. for a merge of unknown tokens
        raise EdgekitError(f"tokenizer metadata is inconsistent ({str(e)[:200]})", path=gf.path,
                           fix="the file is corrupt") from None


def _build_byte_level_bpe(tokens: list[str], merges: list[str], types, *, llama3: bool):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    vocab: dict[str, int] = {}
    for i, text in enumerate(tokens):
        vocab.setdefault(text, i)  # a duplicated text keeps its first id, as llama.cpp's lookup does
    pairs = [tuple(m.split(" ", 1)) for m in merges]
    # Llama 3's tokenizer.json sets ignore_merges: a word that is itself a token is not split
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=pairs, ignore_merges=llama3))
    if llama3:
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    if types is not None:
        special = [AddedToken(tokens[i], special=True, normalized=False)
                   for i in np.nonzero(types == TOKEN_TYPE_CONTROL)[0]]
        user = [AddedToken(tokens[i], special=False, normalized=False)
                for i in np.nonzero(types == TOKEN_TYPE_USER_DEFINED)[0]]
        if special:
            tokenizer.add_special_tokens(special)
        if user:
            tokenizer.add_tokens(user)
    return tokenizer
