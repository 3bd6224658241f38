"""Check a device against the host reference engine: same model, same numbers (docs/design.md §2).

    report = validate(client, edgekit.load(path), ["The quick brown fox", [1, 15043, 3186]])
    report["passed"], report["summary"]["max_abs_diff"], ...

Per prompt, the device's logits at every position (one LOGITS request per position, continuing the
sequence: T model steps, as in a prefill) are compared with the reference's: max |Δlogit|, cosine similarity
and top-1 agreement overall and per position, and the worst position — with how near the reference put an
int8 activation to a rounding boundary up to there (a value within a few ulps of k + 1/2 may round the other
way on the device, both correctly: then |Δlogit| ~1e-2 is expected; far from any boundary it is a bug). Then
both sides continue the prompt greedily and the token sequences are compared. The greedy tokens must match
exactly for the report to pass.

held_out_perplexity: the device's and the reference's perplexity on a held-out text, the same windows and
targets on both sides, so a lossy format's cost shows as a number a user knows. The bundled model ships the
first three chapters its training held out (HELD_OUT_FILE: Colossians 2-4 of the KJV, the start of
tools/train_bundled.py's held-out tail, never trained on).
"""
from __future__ import annotations

import numpy as np

from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.link.client import DeviceClient

DEFAULT_GREEDY_TOKENS = 16
HELD_OUT_FILE = "held_out.txt"  # in a bundled model's directory: documents separated by blank lines
DEFAULT_PPL_TOKENS = 512


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
        **_per_position(diff, top1),
    }


def _per_position(diff: np.ndarray, top1: np.ndarray) -> dict:
    per = diff.max(axis=1)
    return {"position_max_abs_diff": [float(d) for d in per], "position_top1": [bool(t) for t in top1],
            "worst_position": int(per.argmax())}


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
        **_per_position(diff, top1),
    }


def _reference_run(model, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The reference's logits and, per position, its nearest int8 activation to a rounding boundary (ulps)."""
    from edgekit.reference.engine import ReferenceEngine

    engine = ReferenceEngine(model, track_rounding=True)
    return engine.logits(ids), engine.rounding_ulps


def held_out_documents(text: str) -> list[str]:
    """Documents of a held-out text: blank-line separated, each ending in one newline (the training layout)."""
    return [d.strip("\n") + "\n" for d in text.split("\n\n") if d.strip()]


def bundled_held_out_text(model_ref) -> str:
    """The held-out text shipped in a model's directory (model_ref: a bundled model's name or a directory)."""
    from edgekit.models import bundled_model_path

    directory = bundled_model_path(str(model_ref)) or Path(model_ref)
    path = directory / HELD_OUT_FILE
    if not path.is_file():
        raise EdgekitError(f"{model_ref} has no held-out text ({HELD_OUT_FILE} beside the checkpoint)",
                           fix="give one with --ppl-text FILE (documents separated by blank lines)")
    return path.read_text(encoding="utf-8")


def held_out_perplexity(client: DeviceClient, model, text: str, *, max_tokens: int = DEFAULT_PPL_TOKENS,
                        progress=None) -> dict:
    """Perplexity of device and reference on `text`: documents framed BOS doc EOS (as the bundled model was
    trained), the first max_tokens + 1 tokens cut into windows of the device's context, each window a fresh
    sequence; every next-token target of every window scored, the same targets on both sides."""
    cfg = model.config
    ident = client.identity or client.hello()
    ids: list[int] = []
    for doc in held_out_documents(text):
        ids += [cfg.bos_token_id, *model.encode(doc, add_special_tokens=False), cfg.eos_token_id]
    ids = ids[:max_tokens + 1]
    if len(ids) < 2:
        raise EdgekitError("the held-out text has fewer than two tokens", fix="give a longer text")
    window = min(ident.context_len, cfg.max_seq_len)
    nll = {"device": [], "reference": []}
    starts = range(0, len(ids) - 1, window - 1)  # windows overlap by one token: every target scored once
    for n, start in enumerate(starts):
        chunk = ids[start:start + window]
        if progress:
            progress(f"perplexity window {n + 1}/{len(starts)}: {len(chunk)} tokens")
        targets = np.asarray(chunk[1:])
        for side, logits in (("device", client.logits_all(chunk)), ("reference", model.logits(chunk))):
            z = np.asarray(logits[:-1], dtype=np.float64)
            m = z.max(axis=1, keepdims=True)
            logp = z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))
            nll[side].append(-logp[np.arange(len(targets)), targets])
    dev, ref = np.concatenate(nll["device"]), np.concatenate(nll["reference"])
    return {"tokens_scored": int(dev.size), "windows": len(starts), "window": window,
            "ppl_device": float(np.exp(dev.mean())), "ppl_reference": float(np.exp(ref.mean())),
            "max_abs_nll_diff": float(np.abs(dev - ref).max())}


def validate(client: DeviceClient, model, prompts, *, greedy_tokens: int = DEFAULT_GREEDY_TOKENS,
             top_k: int | None = None, ppl_text: str | None = None, ppl_tokens: int = DEFAULT_PPL_TOKENS,
             progress=None) -> dict:
    """Compare the device with the reference on each prompt (text or token ids). Returns a JSON-able report:
    {"passed", "device", "summary", "prompts": [per-prompt comparison], "perplexity": held_out_perplexity of
    ppl_text, or None}. The perplexity is reported, not judged: a lossy format is the user's choice.

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
        ref_logits, rounding_ulps = _reference_run(model, ids)
        if top_k:
            replies = [client.logits([ids[0]], top_k=top_k)]
            replies += [client.logits([t], top_k=top_k, continue_sequence=True) for t in ids[1:]]
            cmp = compare_top_k(np.stack([r.top_ids for r in replies]), np.stack([r.top_values for r in replies]),
                                ref_logits)
        else:
            cmp = compare_logits(client.logits_all(ids), ref_logits)
        worst = cmp["worst_position"]
        cmp["worst"] = {"position": worst, "token_id": ids[worst], "max_abs_diff": cmp["position_max_abs_diff"][worst],
                        "top1_match": cmp["position_top1"][worst],
                        "nearest_rounding_ulps": float(rounding_ulps[:worst + 1].min())}
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
    worst = max(range(len(results)), key=lambda i: results[i]["max_abs_diff"]) if results else None
    summary = {
        "prompts": len(results),
        "positions": sum(r["positions"] for r in results),
        "max_abs_diff": max(r["max_abs_diff"] for r in results) if results else 0.0,
        "min_cosine": min((r["min_cosine"] for r in results if r["min_cosine"] is not None), default=None),
        "top1_agreement": (sum(r["top1_agreement"] * r["positions"] for r in results)
                           / max(1, sum(r["positions"] for r in results))),
        "greedy_match": all(r["greedy_match"] for r in results),
        "worst": None if worst is None else {"prompt": worst, **results[worst]["worst"]},
    }
    perplexity = None
    if ppl_text is not None:
        perplexity = held_out_perplexity(client, model, ppl_text, max_tokens=ppl_tokens, progress=progress)
    from edgekit.profile.clocks import device_clock

    # decode_tokens_per_s is the device's own DONE timing: say which clock that was (an estimate when emulated)
    return {"passed": bool(results) and summary["greedy_match"], "device": ident.to_dict(), "summary": summary,
            "prompts": results, "perplexity": perplexity,
            "decode_clock": device_clock(ident.board, ident.clock_hz).to_dict()}
