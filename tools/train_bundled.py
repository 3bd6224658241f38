#!/usr/bin/env python3
"""Train edgekit's bundled model: a small BitNet b1.58 language model on the King James Bible.

One command retrains it from scratch, deterministically for a given seed and thread count:

    .venv/bin/python tools/train_bundled.py            # ~40 min on 2 CPU threads, writes edgekit/models/<name>/
    .venv/bin/python tools/train_bundled.py --trial    # 1-minute smoke run into /tmp, checks the export

The network is transformers' own `BitNetForCausalLM` (model_type "bitnet"): we build it from a
`BitNetConfig` and swap each of the 7 projections per layer (q, k, v, o, gate, up, down) for
`QATBitLinear`, which trains float master weights through the W1.58A8 quantiser with a straight-through
estimator. In eval mode `QATBitLinear` computes exactly what transformers' inference `BitLinear` computes
from the packed checkpoint (integer-valued dot product, then one division by s_w * s_x), so the exported
model's logits match the trained model's; the tool checks that after export and records the numbers.

Training dependencies (torch, transformers, tokenizers, matplotlib) belong to this tool only; nothing
under edgekit/ imports torch.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import sys
import time
from dataclasses import dataclass, asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402  (tools/ is not a package)

from edgekit.bench.machine import cpu_model  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MODEL_NAME = "kjv-bitnet-5m"
BOS, EOS = "<s>", "</s>"  # ids 0 and 1: the first special tokens given to the BPE trainer
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
PROMPTS = ("In the beginning", "And the LORD said unto Moses,", "Blessed are the",
           "Psalms 23\n", "And it came to pass")


@dataclass(frozen=True)
class Shape:
    """Architecture numbers (BitNetConfig names)."""

    vocab_size: int = 2048
    hidden_size: int = 256
    intermediate_size: int = 768
    num_hidden_layers: int = 6
    num_attention_heads: int = 8
    num_key_value_heads: int = 4  # GQA ratio 2
    max_position_embeddings: int = 256
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5

    def ternary_weights(self) -> int:
        head_dim = self.hidden_size // self.num_attention_heads
        kv = self.num_key_value_heads * head_dim
        per_layer = (2 * self.hidden_size * self.hidden_size + 2 * kv * self.hidden_size
                     + 3 * self.hidden_size * self.intermediate_size)
        return per_layer * self.num_hidden_layers


@dataclass(frozen=True)
class Schedule:
    steps: int = 720
    batch_size: int = 8
    seq_len: int = 256
    peak_lr: float = 3e-3
    final_lr_fraction: float = 0.1
    warmup_steps: int = 50
    weight_decay: float = 0.05  # on the ternary master weights only
    eval_every: int = 100
    held_out_fraction: float = 0.05
    seed: int = 1611


# ---------------------------------------------------------------------------------------------------
# Quantisation-aware BitLinear

def _torch():
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:  # pragma: no cover - message for a machine without the train extra
        raise SystemExit(f"train_bundled needs torch and transformers ({exc}); install them with: "
                         ".venv/bin/pip install -e '.[train]'") from exc
    return torch


def ternarize(weight):
    """(codes in {-1,0,1} as float, s_w): absmean rule, s_w = 1/max(mean|W|, 1e-5) is a divisor."""
    torch = _torch()
    w = weight.detach().float()
    s_w = 1.0 / w.abs().mean().clamp(min=1e-5)
    codes = torch.clamp(torch.round(w * s_w), -1, 1)  # torch.round is round-half-to-even
    return codes, s_w


def activation_quant(x):
    """(x_q as float in [-128, 127], s_x of shape [..., 1]): per-token absmax int8."""
    torch = _torch()
    s_x = 127.0 / x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    return torch.clamp(torch.round(x * s_x), -128, 127), s_x


def make_qat_linear_class():
    torch = _torch()
    import torch.nn.functional as F

    class QATBitLinear(torch.nn.Linear):
        """nn.Linear trained through W1.58A8 fake quantisation with a straight-through estimator."""

        def forward(self, x):
            codes, s_w = ternarize(self.weight)
            x_q, s_x = activation_quant(x.detach())
            if self.training:
                # Forward value uses the quantised operands; the gradient flows as if they were the
                # float ones (STE), to both the activations and the float master weights.
                w_ste = self.weight + (codes / s_w - self.weight).detach()
                x_ste = x + (x_q / s_x - x).detach()
                return F.linear(x_ste, w_ste)
            # Inference: the same arithmetic as transformers' BitLinear on the packed checkpoint. The
            # dot product of integers is exact in float32 (|acc| <= 128 * in_features < 2**24).
            return F.linear(x_q, codes) / (s_w * s_x)

    return QATBitLinear


def build_model(shape: Shape, seed: int):
    torch = _torch()
    from transformers import BitNetConfig, BitNetForCausalLM

    torch.manual_seed(seed)
    config = BitNetConfig(
        vocab_size=shape.vocab_size, hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size, num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads, num_key_value_heads=shape.num_key_value_heads,
        max_position_embeddings=shape.max_position_embeddings, rms_norm_eps=shape.rms_norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": shape.rope_theta},
        hidden_act="relu2", tie_word_embeddings=True, bos_token_id=0, eos_token_id=1, pad_token_id=None,
        initializer_range=0.02, attention_dropout=0.0, use_cache=False)
    config._attn_implementation = "sdpa"
    model = BitNetForCausalLM(config)
    qat_class = make_qat_linear_class()
    for layer in model.model.layers:
        for parent in (layer.self_attn, layer.mlp):
            for name in PROJECTIONS:
                old = getattr(parent, name, None)
                if old is None:
                    continue
                new = qat_class(old.in_features, old.out_features, bias=False)
                new.weight.data.copy_(old.weight.data)
                setattr(parent, name, new)
    n_qat = sum(isinstance(m, qat_class) for m in model.modules())
    assert n_qat == 7 * shape.num_hidden_layers, n_qat
    return model, qat_class


# ---------------------------------------------------------------------------------------------------
# Data

def train_tokenizer(train_docs: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[BOS, EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(train_docs, trainer=trainer)
    assert tok.token_to_id(BOS) == 0 and tok.token_to_id(EOS) == 1
    # Like Llama-family tokenizers (and microsoft/bitnet-b1.58-2B-4T), encoding adds BOS by itself.
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B",
                                                       special_tokens=[(BOS, 0)])
    return tok


def token_stream(tok, docs: list[str]) -> np.ndarray:
    """BOS doc EOS BOS doc EOS ... as one int32 array (the training and evaluation layout)."""
    ids: list[int] = []
    for enc in tok.encode_batch(docs, add_special_tokens=False):
        ids += [0, *enc.ids, 1]
    return np.asarray(ids, dtype=np.int32)


def unigram_perplexity(train_ids: np.ndarray, targets: np.ndarray, vocab_size: int) -> float:
    """Perplexity of add-one-smoothed training-set token frequencies on the same targets the model is scored on."""
    counts = np.bincount(train_ids, minlength=vocab_size).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(np.exp(-logp[targets].mean()))


# ---------------------------------------------------------------------------------------------------
# Evaluation and sampling (eval mode: the exact inference arithmetic)

SHIPPED_HELD_OUT_CHAPTERS = 3  # edgekit/models/kjv-bitnet-5m/held_out.txt: Colossians 2-4


def held_out_nll(model, stream: np.ndarray, seq_len: int, max_tokens: int | None = None) -> tuple[float, int]:
    """Mean next-token NLL over `stream`, each token scored with at least seq_len/2 tokens of context
    (windows of seq_len, stride seq_len/2, only the second half of each window scored after the first)."""
    torch = _torch()
    import torch.nn.functional as F

    stream = stream if max_tokens is None else stream[:max_tokens + 1]
    stride = seq_len // 2
    total, count, start = 0.0, 0, 0
    model.eval()
    with torch.no_grad():
        while True:
            window = torch.from_numpy(stream[start:start + seq_len + 1].astype(np.int64))
            if len(window) < 2:
                break
            logits = model(input_ids=window[None, :-1]).logits[0]
            nll = F.cross_entropy(logits.float(), window[1:], reduction="none")
            scored = nll if start == 0 else nll[seq_len - stride:]
            total += float(scored.sum())
            count += len(scored)
            if start + seq_len + 1 >= len(stream):
                break
            start += stride
    return total / count, count


def greedy(model, tok, prompt: str, new_tokens: int) -> str:
    torch = _torch()
    ids = tok.encode(prompt).ids  # with BOS
    model.eval()
    with torch.no_grad():
        for _ in range(new_tokens):
            logits = model(input_ids=torch.tensor([ids[-256:]])).logits[0, -1]
            nxt = int(torch.argmax(logits))
            if nxt == 1:
                break
            ids.append(nxt)
    return tok.decode(ids, skip_special_tokens=True)


# ---------------------------------------------------------------------------------------------------
# Export: HF BitNet packed checkpoint

def pack_ternary_rows(codes: np.ndarray) -> np.ndarray:
    """int8 codes [out, in] -> uint8 [out/4, in]; bits 2i..2i+1 of packed[r, c] = codes[i*(out/4)+r, c] + 1."""
    out_features = codes.shape[0]
    if out_features % 4:
        raise ValueError(f"cannot pack {out_features} rows: HF BitNet packing needs a multiple of 4")
    shifted = (codes.astype(np.int16) + 1).astype(np.uint8).reshape(4, out_features // 4, codes.shape[1])
    return (shifted[0] | (shifted[1] << 2) | (shifted[2] << 4) | (shifted[3] << 6)).astype(np.uint8)


def snap_floats_to_fp16(model, qat_class) -> None:
    """Round every float tensor that is stored as fp16 (embedding, norms) so the trained model *is*
    the exported one; the ternary masters stay float32 because only their codes and s_w are exported."""
    torch = _torch()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, qat_class):
                continue
            for p in module.parameters(recurse=False):
                p.copy_(p.half().float())


def export_tensors(model, qat_class) -> dict[str, np.ndarray]:
    tensors: dict[str, np.ndarray] = {}
    for name, module in model.named_modules():
        if isinstance(module, qat_class):
            codes, s_w = ternarize(module.weight)
            tensors[f"{name}.weight"] = pack_ternary_rows(codes.numpy().astype(np.int8))
            tensors[f"{name}.weight_scale"] = np.asarray([float(s_w)], dtype=np.float32)
    for name, p in model.named_parameters():
        module_name = name.rsplit(".", 1)[0]
        if isinstance(model.get_submodule(module_name), qat_class) or name == "lm_head.weight":
            continue  # lm_head is tied to the embedding
        tensors[name] = p.detach().numpy().astype(np.float16)
    return tensors


def config_json(model, shape: Shape) -> dict:
    cfg = model.config.to_dict()
    for key in ("_attn_implementation_autoset", "_name_or_path", "use_cache"):
        cfg.pop(key, None)
    cfg.update({
        "architectures": ["BitNetForCausalLM"],
        "model_type": "bitnet",
        "dtype": "float32",  # compute dtype; stored floats are fp16, ternary weights packed uint8
        "head_dim": shape.hidden_size // shape.num_attention_heads,
        "rope_theta": shape.rope_theta,  # also inside rope_parameters; older readers look here
        "use_cache": True,
        "quantization_config": {"quant_method": "bitnet", "linear_class": "bitlinear",
                                "quantization_mode": "offline", "use_rms_norm": False,
                                "rms_norm_eps": 1e-6, "modules_to_not_convert": None},
    })
    return cfg


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------------
# Training

def lr_at(step: int, sched: Schedule) -> float:
    if step < sched.warmup_steps:
        return sched.peak_lr * (step + 1) / sched.warmup_steps
    progress = (step - sched.warmup_steps) / max(1, sched.steps - sched.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return sched.peak_lr * (sched.final_lr_fraction + (1 - sched.final_lr_fraction) * cosine)


def train(model, qat_class, train_ids: np.ndarray, eval_ids: np.ndarray, sched: Schedule, log) -> list[dict]:
    torch = _torch()
    import torch.nn.functional as F

    decay = [m.weight for m in model.modules() if isinstance(m, qat_class)]
    decay_ids = {id(p) for p in decay}
    no_decay = [p for p in model.parameters() if id(p) not in decay_ids]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": sched.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=sched.peak_lr, betas=(0.9, 0.95), eps=1e-8)
    rng = np.random.default_rng(sched.seed)
    history: list[dict] = []
    t0 = time.time()
    for step in range(sched.steps):
        starts = rng.integers(0, len(train_ids) - sched.seq_len - 1, size=sched.batch_size)
        batch = torch.from_numpy(np.stack([train_ids[s:s + sched.seq_len + 1] for s in starts]).astype(np.int64))
        for group in opt.param_groups:
            group["lr"] = lr_at(step, sched)
        model.train()
        logits = model(input_ids=batch[:, :-1]).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        row = {"step": step + 1, "train_loss": loss.item(), "lr": lr_at(step, sched),
               "elapsed_s": time.time() - t0}
        if (step + 1) % sched.eval_every == 0 or step + 1 == sched.steps:
            row["eval_loss"], _ = held_out_nll(model, eval_ids, sched.seq_len, max_tokens=4096)
            log(f"step {step + 1:5d}  loss {loss.item():.3f}  held-out {row['eval_loss']:.3f}  "
                f"lr {row['lr']:.2e}  {row['elapsed_s']:.0f}s")
        elif (step + 1) % 10 == 0:
            log(f"step {step + 1:5d}  loss {loss.item():.3f}  {row['elapsed_s']:.0f}s")
        history.append(row)
    return history


def plot_loss(history: list[dict], path: Path, unigram_loss: float) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.array([h["step"] for h in history])
    train_loss = np.array([h["train_loss"] for h in history])
    k = max(1, len(train_loss) // 100)  # moving average so the curve reads at a glance
    smooth = np.convolve(train_loss, np.ones(k) / k, mode="valid")
    evals = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=80)
    ax.plot(steps[k - 1:], smooth, lw=1, label=f"train (moving mean of {k})")
    if evals:
        ax.plot(*zip(*evals), "o-", ms=3, lw=1, label="held-out (first 4k tokens)")
    ax.axhline(unigram_loss, color="grey", ls="--", lw=1, label="unigram baseline (held-out)")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title(f"{MODEL_NAME}: W1.58A8 QAT on the KJV")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})  # no version stamp: reruns give identical bytes
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------
# Round trip through transformers

def transformers_check(model_dir: Path, qat_model, ids: list[int]) -> dict:
    """Load the exported directory with transformers and compare logits with the QAT model in eval."""
    torch = _torch()
    from transformers import BitNetForCausalLM

    hf = BitNetForCausalLM.from_pretrained(model_dir)
    hf.eval()
    qat_model.eval()
    x = torch.tensor([ids])
    with torch.no_grad():
        ref = qat_model(input_ids=x).logits[0]
        got = hf(input_ids=x).logits[0]
    return {"positions": len(ids), "max_abs_diff": float((ref - got).abs().max()),
            "argmax_agree": int((ref.argmax(-1) == got.argmax(-1)).sum())}


# ---------------------------------------------------------------------------------------------------

def model_card(info: dict) -> str:
    s, sch = info["shape"], info["schedule"]
    samples = "\n".join(f"**Prompt** `{json.dumps(p)[1:-1]}`\n\n```text\n{out}\n```\n"
                        for p, out in info["samples"])
    rt = info["roundtrip"]
    return f"""# {MODEL_NAME}

A small BitNet b1.58 (ternary W1.58A8) language model trained from scratch on the King James Version of
the Bible, bundled with edgekit as its embedded default so that every path (plan, pack, firmware, emulated
board, serial link) runs on a real model without downloading anything. It writes recognisable KJV-style
English; it knows nothing else and is not an assistant.

## Architecture

transformers' `BitNetForCausalLM` (model_type `bitnet`), saved in the HF BitNet packed format
(`quantization_config.linear_class = "bitlinear"`, offline): each of the 7 projections per layer is a uint8
`[out/4, in]` tensor of 2-bit codes (w + 1) plus `weight_scale` = 1/mean|W| (float32, a divisor).

| field | value |
| --- | --- |
| layers | {s['num_hidden_layers']} |
| hidden size | {s['hidden_size']} |
| FFN (relu², gated) | {s['intermediate_size']} |
| attention heads / KV heads (GQA) | {s['num_attention_heads']} / {s['num_key_value_heads']} (head dim {s['hidden_size'] // s['num_attention_heads']}) |
| context (max_position_embeddings) | {s['max_position_embeddings']} |
| RoPE theta | {s['rope_theta']:g} |
| vocabulary | {s['vocab_size']} (byte-level BPE; `<s>` = 0 is BOS, `</s>` = 1 is EOS) |
| embedding | tied with the LM head, stored fp16 |
| ternary weights | {info['ternary_weights']:,} |
| float parameters (embedding, norms) | {info['float_parameters']:,} |
| model.safetensors | {info['safetensors_bytes']:,} bytes |

The tokenizer adds `<s>` in front of every encoded text (as Llama-family tokenizers do); generation stops
at `</s>`, which ends every chapter in training.

## Data

The King James ("Authorized") Version of 1611 as shipped by Debian in `bible-kjv-text`
(read with the `bible` program from `bible-kjv`). The text is in the public domain: the translation's
copyright has long expired, and Debian distributes it as such; the one caveat is the United Kingdom, where the Crown's perpetual
letters patent still restrict printing of the Authorized Version. The model card and weights add no
restrictions (edgekit's MIT licence).

Each of the 1,189 chapters is one document: its heading (`Genesis 1`), then one verse per line without
verse numbers, framed by `<s>` … `</s>`. The last whole chapters holding {sch['held_out_fraction']:.0%} of the
characters ({info['held_out_from']} to Revelation 22, {info['held_out_tokens']:,} tokens) are held out;
the tokenizer and the model saw only the rest ({info['train_tokens']:,} tokens).

## Training

Quantisation-aware training from random initialisation: float master weights, forward through absmean
ternary weights (s_w = 1/max(mean|W|, 1e-5), W_q = clamp(round(W·s_w), -1, 1)) and per-token int8 absmax
activations (s_x = 127/max(max|x|, 1e-5)), straight-through estimator for both. AdamW (β = 0.9, 0.95,
weight decay {sch['weight_decay']} on ternary weights only), peak LR {sch['peak_lr']:g} with {sch['warmup_steps']} warm-up steps and cosine decay
to {sch['final_lr_fraction']:.0%}, {sch['steps']:,} steps of {sch['batch_size']} × {sch['seq_len']} tokens
({sch['steps'] * sch['batch_size'] * sch['seq_len']:,} tokens, {info['epochs']:.1f} epochs), gradient clipping 1.0, seed {sch['seed']}.

Hardware: {info['hardware']}, {info['threads']} torch thread(s); wall time {info['train_seconds'] / 60:.1f} min for training
({info['total_seconds'] / 60:.1f} min for the whole command, {info['cpu_seconds'] / 60:.1f} min of CPU time; the machine's
cores were shared with other jobs, so wall time depends on the load). torch {info['torch']}, transformers {info['transformers']}.

![loss curve](loss.png)

Retrain from scratch (deterministic for a given seed and thread count):

```sh
{info['command']}
```

## Evaluation (held-out chapters)

| model | perplexity | nats/token |
| --- | --- | --- |
| this model | **{info['held_out_ppl']:.2f}** | {math.log(info['held_out_ppl']):.3f} |
| unigram baseline (training-set token frequencies, add-one) | {info['unigram_ppl']:.2f} | {math.log(info['unigram_ppl']):.3f} |

Perplexity over all {info['held_out_scored']:,} held-out next-token targets, windows of {sch['seq_len']} tokens with stride
{sch['seq_len'] // 2} (every token after the first window has ≥ {sch['seq_len'] // 2} tokens of context).

Export check: `BitNetForCausalLM.from_pretrained` on this directory vs. the trained model in eval mode,
{rt['positions']} held-out positions: max |Δlogit| = {rt['max_abs_diff']:.2e}, same argmax at {rt['argmax_agree']}/{rt['positions']}.

## Greedy samples

{samples}"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "edgekit" / "models" / MODEL_NAME)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (results depend on it)")
    ap.add_argument("--steps", type=int, default=Schedule.steps)
    ap.add_argument("--seed", type=int, default=Schedule.seed)
    ap.add_argument("--batch-size", type=int, default=Schedule.batch_size, help="sequences per step")
    ap.add_argument("--trial", action="store_true",
                    help="30 steps into /tmp/edgekit-bundled-trial: checks data, loss and export quickly")
    args = ap.parse_args(argv)
    torch = _torch()
    import tokenizers
    import transformers

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    t_start = time.time()
    sched = Schedule(steps=args.steps, seed=args.seed, batch_size=args.batch_size)
    out = args.out
    if args.trial:
        sched = Schedule(steps=30, eval_every=15, warmup_steps=5, seed=args.seed)
        out = Path("/tmp/edgekit-bundled-trial") / MODEL_NAME
    shape = Shape()
    log_lines: list[str] = []

    def log(msg: str) -> None:
        print(msg, flush=True)
        log_lines.append(msg)

    try:
        chapters = corpus.read_kjv()
    except corpus.CorpusError as exc:
        raise SystemExit(f"train_bundled: {exc}") from exc
    train_ch, held_ch = corpus.split_held_out(chapters, sched.held_out_fraction)
    tok = train_tokenizer([c.document() for c in train_ch], shape.vocab_size)
    train_ids = token_stream(tok, [c.document() for c in train_ch])
    held_ids = token_stream(tok, [c.document() for c in held_ch])
    log(f"corpus: {len(train_ch)} train chapters ({len(train_ids):,} tokens), {len(held_ch)} held-out "
        f"chapters from {held_ch[0].book} {held_ch[0].number} ({len(held_ids):,} tokens)")

    model, qat_class = build_model(shape, sched.seed)
    log(f"model: {shape.ternary_weights():,} ternary weights, "
        f"{sum(p.numel() for p in model.parameters()) - shape.ternary_weights():,} float parameters")
    t_train = time.time()
    history = train(model, qat_class, train_ids, held_ids, sched, log)
    train_seconds = time.time() - t_train

    snap_floats_to_fp16(model, qat_class)
    held_nll, held_scored = held_out_nll(model, held_ids, sched.seq_len)
    unigram_ppl = unigram_perplexity(train_ids, held_ids[1:], shape.vocab_size)
    log(f"held-out perplexity {math.exp(held_nll):.2f} (unigram baseline {unigram_ppl:.2f})")
    samples = [(p, greedy(model, tok, p, 48)) for p in PROMPTS]
    for p, s in samples:
        log(f"sample {p!r}: {s!r}")

    # Write everything into a fresh sibling directory, then swap it in: a crash never leaves a half model.
    from safetensors.numpy import save_file
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(export_tensors(model, qat_class), str(tmp / "model.safetensors"), metadata={"format": "pt"})
    write_json(tmp / "config.json", config_json(model, shape))
    tok.save(str(tmp / "tokenizer.json"))
    # The first held-out chapters ship with the model: `edgekit validate --ppl` scores them on device and reference
    (tmp / "held_out.txt").write_text("\n".join(c.document() for c in held_ch[:SHIPPED_HELD_OUT_CHAPTERS]))
    write_json(tmp / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": BOS, "eos_token": EOS,
        "add_bos_token": True, "add_eos_token": False, "model_max_length": shape.max_position_embeddings,
        "clean_up_tokenization_spaces": False})
    write_json(tmp / "generation_config.json", {
        "bos_token_id": 0, "eos_token_id": 1, "do_sample": False, "max_length": shape.max_position_embeddings})
    roundtrip = transformers_check(tmp, model, held_ids[:sched.seq_len].tolist())
    log(f"transformers round trip: {roundtrip}")
    if roundtrip["max_abs_diff"] > 1e-3 or roundtrip["argmax_agree"] != roundtrip["positions"]:
        raise SystemExit(f"train_bundled: exported model disagrees with the trained one: {roundtrip}")
    plot_loss(history, tmp / "loss.png", math.log(unigram_ppl))
    cmd = "OMP_NUM_THREADS={t} .venv/bin/python tools/train_bundled.py --threads {t} --seed {s} --steps {n} --batch-size {b}".format(
        t=args.threads, s=sched.seed, n=sched.steps, b=sched.batch_size)
    info = {
        "shape": asdict(shape), "schedule": asdict(sched), "samples": samples, "roundtrip": roundtrip,
        "ternary_weights": shape.ternary_weights(),
        "float_parameters": sum(p.numel() for p in model.parameters()) - shape.ternary_weights(),
        "safetensors_bytes": (tmp / "model.safetensors").stat().st_size,
        "held_out_from": f"{held_ch[0].book} {held_ch[0].number}", "held_out_tokens": len(held_ids),
        "train_tokens": len(train_ids), "held_out_scored": held_scored,
        "epochs": sched.steps * sched.batch_size * sched.seq_len / len(train_ids),
        "hardware": f"{platform.processor() or platform.machine()} ({cpu_model()})", "threads": args.threads,
        "train_seconds": train_seconds, "total_seconds": time.time() - t_start, "cpu_seconds": time.process_time(),
        "torch": torch.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
        "command": cmd, "held_out_ppl": math.exp(held_nll), "unigram_ppl": unigram_ppl,
    }
    (tmp / "README.md").write_text(model_card(info))
    # Numbers the tests and the card share; small, so it is committed with the model.
    write_json(tmp / "training_summary.json", {
        k: info[k] for k in ("held_out_ppl", "unigram_ppl", "held_out_scored", "train_tokens", "held_out_tokens",
                             "train_seconds", "cpu_seconds", "threads", "command", "roundtrip", "torch", "transformers")}
        | {"samples": [{"prompt": p, "greedy": s} for p, s in samples],
           "loss_curve": [{k: round(v, 4) for k, v in h.items()} for h in history if "eval_loss" in h]})
    old = out.parent / f".{out.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    log(f"wrote {out} in {(time.time() - t_start) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
