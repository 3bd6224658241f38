"""Small in-memory models for tests that need a Model but not a checkpoint on disk."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.model import FloatTensor, Model, ModelConfig, TernaryTensor, tensor_layout


def tiny_config(**overrides) -> ModelConfig:
    base = dict(vocab_size=96, hidden_size=64, intermediate_size=96, num_layers=2, num_heads=4, num_kv_heads=2,
                head_dim=16, max_seq_len=64, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=True,
                bos_token_id=1, eos_token_id=2)
    base.update(overrides)
    return ModelConfig(**base)


def bitnet_2b_4t_config(**overrides) -> ModelConfig:
    """microsoft/bitnet-b1.58-2B-4T's shape as released: 30 layers, hidden 2560, FFN 6912, 20 query / 5 KV heads of
    128, vocabulary 128256, context 4096, rope_theta 500000, and a tied embedding (its model.safetensors has no
    lm_head: the output head is the bf16 embedding). Planner tests and benchmarks of the 2B shape start here."""
    base = dict(vocab_size=128256, hidden_size=2560, intermediate_size=6912, num_layers=30, num_heads=20,
                num_kv_heads=5, head_dim=128, max_seq_len=4096, rms_norm_eps=1e-5, rope_theta=500000.0,
                tie_word_embeddings=True, bos_token_id=128000, eos_token_id=128001)
    base.update(overrides)
    return ModelConfig(**base)


def random_model(config: ModelConfig | None = None, seed: int = 0) -> Model:
    """Random ternary codes (about a third zeros) and float tensors of realistic scale."""
    config = config or tiny_config()
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, role, layer, kind, shape in tensor_layout(config):
        if kind == "ternary":
            codes = rng.integers(-1, 2, size=shape).astype(np.int8)
            scale = float(np.float32(rng.uniform(20, 60)))
            tensors[name] = TernaryTensor(name, role, layer, shape, "int8", codes.size, lambda c=codes: c,
                                          weight_scale=scale)
        else:
            if len(shape) == 1:
                arr = (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
            else:
                arr = rng.standard_normal(shape).astype(np.float32)
            tensors[name] = FloatTensor(name, role, layer, shape, "f32", arr.nbytes, lambda a=arr: a)
    return Model(config, tensors, None, Path("<random>"), "synthetic")
