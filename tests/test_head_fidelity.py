"""What the lossy heads cost, measured on the bundled model as the README states it: the image's logits (reference
engine) against the checkpoint's on the README prompt, and over the first 512 held-out tokens the top-1 agreement
and the perplexity (the same windows `edgekit validate --ppl` scores). The bounds are the README's numbers,
rounded outwards; C equals the reference on these images (tests/test_c_vs_reference.py)."""
from __future__ import annotations

import numpy as np
import pytest

import edgekit
from edgekit.link.validate import bundled_held_out_text, held_out_documents
from edgekit.pack.packer import PackChoice, pack_model

BUNDLED = "kjv-bitnet-5m"
PROMPT = "And God said, Let there be light: and there was"
HELD_OUT_TOKENS = 512

# format -> (README prompt: max |Δlogit| at most, top-1 positions of 13 at least; held-out: top-1 agreement at
# least, perplexity image / checkpoint at most). Measured: q8i 0.173, 12/13, 99.6 %, 0.9993;
# q4i 1.177, 12/13, 94.7 %, 1.0152 (76.54 -> 77.70).
README_BOUNDS = {"q8i": (0.18, 12, 0.99, 1.001), "q4i": (1.2, 12, 0.94, 1.016)}


@pytest.fixture(scope="module")
def checkpoint():
    return edgekit.load(BUNDLED)


@pytest.fixture(scope="module")
def held_out_windows(checkpoint):
    """Windows of the model's context over the first HELD_OUT_TOKENS + 1 tokens, overlapping by one token."""
    cfg = checkpoint.config
    ids: list[int] = []
    for doc in held_out_documents(bundled_held_out_text(BUNDLED)):
        ids += [cfg.bos_token_id, *checkpoint.encode(doc, add_special_tokens=False), cfg.eos_token_id]
    ids = ids[:HELD_OUT_TOKENS + 1]
    window = cfg.max_seq_len
    return [ids[s:s + window] for s in range(0, len(ids) - 1, window - 1)]


def _scored(model, windows) -> tuple[np.ndarray, np.ndarray]:
    """(logits of every scored position, its target token) over the windows."""
    logits = np.concatenate([np.asarray(model.logits(w))[:-1] for w in windows])
    targets = np.concatenate([np.asarray(w[1:]) for w in windows])
    return logits, targets


def _perplexity(logits: np.ndarray, targets: np.ndarray) -> float:
    z = logits.astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    logp = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
    return float(np.exp(-logp[np.arange(len(targets)), targets].mean()))


@pytest.mark.parametrize("fmt", sorted(README_BOUNDS))
def test_integer_head_fidelity_is_what_the_readme_says(checkpoint, held_out_windows, tmp_path, fmt):
    max_delta, top1_prompt, top1_held_out, ppl_ratio = README_BOUNDS[fmt]
    image = tmp_path / f"{fmt}.ekm"
    pack_model(checkpoint, image, PackChoice("i2", fmt, fmt))
    packed = edgekit.load(image)
    ids = checkpoint.encode(PROMPT)
    ref, got = checkpoint.logits(ids), packed.logits(ids)
    delta = float(np.abs(got - ref).max())
    agree = int((got.argmax(1) == ref.argmax(1)).sum())
    ref_all, targets = _scored(checkpoint, held_out_windows)
    got_all, _ = _scored(packed, held_out_windows)
    agreement = float((got_all.argmax(1) == ref_all.argmax(1)).mean())
    ppl_ref, ppl_got = _perplexity(ref_all, targets), _perplexity(got_all, targets)
    print(f"{fmt}: README prompt max |Δlogit| {delta:.3f}, top-1 {agree}/{len(ids)}; held-out ({len(targets)} "
          f"tokens) top-1 agreement {agreement:.3f}, perplexity {ppl_got:.3f} against {ppl_ref:.3f}")
    assert len(ids) == 13 and len(targets) == HELD_OUT_TOKENS
    assert delta <= max_delta and agree >= top1_prompt
    assert agreement >= top1_held_out and ppl_got / ppl_ref <= ppl_ratio
