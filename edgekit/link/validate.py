"""Check a device against the host reference engine: same model, same numbers (docs/design.md §2).

    report = validate(client, edgekit.load(path), ["The quick brown fox", [1, 15043, 3186]])
    report["passed"], report["summary"]["max_abs_diff"], ...

Per prompt, the device's logits at every position (one LOGITS request per position, continuing the
sequence: T model steps, as in a prefill) are compared with `model.logits(ids)`: max |Δlogit|, cosine
similarity and top-1 agreement. Then both sides continue the prompt greedily and the token sequences are
compared. Float differences legitimately flip a few int8 roundings, so logits are judged by tolerance; the
greedy tokens must match exactly for the report to pass.
"""
from __future__ import annotations

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.link.client import DeviceClient

DEFAULT_GREEDY_TOKENS = 16


def _prompt_ids(model, prompt) -> list[int]:
    if isinstance(prompt, str):
        return model.encode(prompt)  # the tokenizer's post-processor adds BOS where the model expects it
    return [int(t) for t in prompt]


def _reference_greedy(model, ids: list[int], n: int, eos: int | None) -> list[int]:
    from edgekit.reference.generate import generate_tokens
    from edgekit.reference.sampler import Sampler

    return list(generate_tokens(model, ids, n, Sampler(temperature=0.0), stop_at_eos=eos is not None))


def compare_logits(device: np.ndarray, reference: np.ndarray) -> dict:
    """Agreement of two (T, vocab) logit arrays."""
    device = np.asarray(device, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    diff = np.abs(device - reference)
    dots = np.sum(device * reference, axis=1)
    norms = np.linalg.norm(device, axis=1) * np.linalg.norm(reference, axis=1)
    cos = np.where(norms > 0, dots / np.maximum(norms, 1e-300), 1.0)
    top1 = np.argmax(device, axis=1) == np.argmax(reference, axis=1)
    return {
        "positions": int(device.shape[0]),
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "min_cosine": float(cos.min()),
        "mean_cosine": float(cos.mean()),
        "top1_agreement": float(top1.mean()),
        "top1_mismatch_positions": [int(i) for i in np.flatnonzero(~top1)],
    }


def compare_top_k(device_ids: np.ndarray, device_values: np.ndarray, reference: np.ndarray) -> dict:
    """Agreement when the device sent only its top-k logits per position: (T, k) ids/values vs (T, vocab)."""
    reference = np.asarray(reference, dtype=np.float64)
    ref_at = np.take_along_axis(reference, device_ids.astype(np.int64), axis=1)
    diff = np.abs(np.asarray(device_values, dtype=np.float64) - ref_at)
    top1 = device_ids[:, 0] == np.argmax(reference, axis=1)
    return {
        "positions": int(reference.shape[0]),
        "max_abs_diff": float(diff.max()),  # over the device's top-k entries only
        "mean_abs_diff": float(diff.mean()),
        "min_cosine": None,
        "mean_cosine": None,
        "top1_agreement": float(top1.mean()),
        "top1_mismatch_positions": [int(i) for i in np.flatnonzero(~top1)],
    }


def validate(client: DeviceClient, model, prompts, *, greedy_tokens: int = DEFAULT_GREEDY_TOKENS,
             top_k: int | None = None, progress=None) -> dict:
    """Compare the device with the reference on each prompt (text or token ids). Returns a JSON-able report:
    {"passed", "device", "summary", "prompts": [per-prompt comparison]}.

    top_k: fetch only the k largest logits per position (k <= 126) instead of the whole vocabulary: a
    128k-entry vocabulary is 512 KB per position, 45 s at 115200 baud. |Δ| is then taken over those k
    entries and no cosine is reported."""
    ident = client.identity or client.hello()
    if not ident.model_ok:
        raise EdgekitError(f"the device on {client.port} has no usable model: {ident.model_error}")
    cfg = model.config
    from edgekit.link.run import check_device_model

    check_device_model(ident, model, client.port)
    results = []
    for n, prompt in enumerate(prompts):
        ids = _prompt_ids(model, prompt)
        if not ids:
            raise EdgekitError(f"prompt {n} encodes to no tokens")
        limit = min(ident.context_len, cfg.max_seq_len)
        if len(ids) + greedy_tokens > limit:
            raise EdgekitError(f"prompt {n} is {len(ids)} tokens; with {greedy_tokens} greedy tokens it exceeds the "
                               f"context ({limit})", fix="use shorter validation prompts")
        if progress:
            progress(f"prompt {n + 1}/{len(prompts)}: logits at {len(ids)} positions")
        ref_logits = model.logits(ids)
        if top_k:
            replies = [client.logits([ids[0]], top_k=top_k)]
            replies += [client.logits([t], top_k=top_k, continue_sequence=True) for t in ids[1:]]
            cmp = compare_top_k(np.stack([r.top_ids for r in replies]), np.stack([r.top_values for r in replies]),
                                ref_logits)
        else:
            cmp = compare_logits(client.logits_all(ids), ref_logits)
        eos = ident.eos_id if ident.eos_id != 0xFFFFFFFF else None
        if progress:
            progress(f"prompt {n + 1}/{len(prompts)}: {greedy_tokens} greedy tokens")
        stream = client.generate(ids, max_new_tokens=greedy_tokens, temperature=0.0, stop_at_eos=eos is not None)
        dev_tokens = [e.token_id for e in stream if hasattr(e, "token_id")]
        ref_tokens = _reference_greedy(model, ids, greedy_tokens, eos)
        first_diff = next((i for i, (a, b) in enumerate(zip(dev_tokens, ref_tokens)) if a != b),
                          None if len(dev_tokens) == len(ref_tokens) else min(len(dev_tokens), len(ref_tokens)))
        results.append({
            "prompt": prompt if isinstance(prompt, str) else None,
            "prompt_ids": ids,
            **cmp,
            "greedy_device": dev_tokens,
            "greedy_reference": ref_tokens,
            "greedy_match": first_diff is None,
            "greedy_first_mismatch": first_diff,
            "decode_tokens_per_s": stream.done.decode_tokens_per_s if stream.done else None,
        })
    summary = {
        "prompts": len(results),
        "positions": sum(r["positions"] for r in results),
        "max_abs_diff": max(r["max_abs_diff"] for r in results) if results else 0.0,
        "min_cosine": min((r["min_cosine"] for r in results if r["min_cosine"] is not None), default=None),
        "top1_agreement": (sum(r["top1_agreement"] * r["positions"] for r in results)
                           / max(1, sum(r["positions"] for r in results))),
        "greedy_match": all(r["greedy_match"] for r in results),
    }
    return {"passed": bool(results) and summary["greedy_match"], "device": ident.to_dict(), "summary": summary,
            "prompts": results}
