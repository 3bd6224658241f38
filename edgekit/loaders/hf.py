"""Hugging Face BitNet checkpoints (model_type "bitnet", transformers' BitNetForCausalLM).

A directory with config.json, model.safetensors or shards listed in model.safetensors.index.json, and
optionally tokenizer.json / tokenizer_config.json / chat_template.jinja. Three weight encodings exist
(docs/design.md §2, transformers/integrations/bitnet.py):

  packed bitlinear       uint8 [out/4, in] 2-bit codes + weight_scale = 1/mean|W| (a divisor: y = acc/(s_x*ws))
  packed autobitlinear   the same codes (or float W_q in {-1,0,+1}) + weight_scale = mean|W| (a multiplier)
  float master           bf16/fp16/fp32 W without a quantization_config (or autobitlinear "online"):
                         ternarised here with absmean, as transformers' WeightQuant does on every forward

Nothing is read whole at load: tensors are produced one at a time from the file on demand.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.loaders.safetensors_file import FLOAT_DTYPES, SafetensorsFile
from edgekit.loaders.ternary import DeferredScaleTernaryTensor, absmean_ternarise, require_ternary, unpack_hf_2bit
from edgekit.model import (FloatTensor, Model, ModelConfig, TernaryTensor, check_layout, check_tensor_count,
                           tensor_layout)

# edgekit role -> HF tensor name ("{L}" is the layer index). Checked against transformers'
# models/bitnet/modeling_bitnet.py: BitNetDecoderLayer / BitNetAttention / BitNetMLP attribute names.
HF_GLOBAL_NAMES = {"tok_embeddings": "model.embed_tokens.weight", "norm": "model.norm.weight",
                   "lm_head": "lm_head.weight"}
HF_LAYER_NAMES = {
    "attn_norm": "model.layers.{L}.input_layernorm.weight",
    "q": "model.layers.{L}.self_attn.q_proj.weight",
    "k": "model.layers.{L}.self_attn.k_proj.weight",
    "v": "model.layers.{L}.self_attn.v_proj.weight",
    "attn_sub_norm": "model.layers.{L}.self_attn.attn_sub_norm.weight",
    "o": "model.layers.{L}.self_attn.o_proj.weight",
    "ffn_norm": "model.layers.{L}.post_attention_layernorm.weight",
    "gate": "model.layers.{L}.mlp.gate_proj.weight",
    "up": "model.layers.{L}.mlp.up_proj.weight",
    "ffn_sub_norm": "model.layers.{L}.mlp.ffn_sub_norm.weight",
    "down": "model.layers.{L}.mlp.down_proj.weight",
}
SUPPORTED_MODEL_TYPES = ("bitnet",)


def hf_name(role: str, layer: int) -> str:
    if layer < 0:
        return HF_GLOBAL_NAMES[role]
    return HF_LAYER_NAMES[role].format(L=layer)


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise EdgekitError(f"cannot read: {e.strerror or e}", path=path) from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise EdgekitError(f"not valid JSON ({e})", path=path, fix="the file is corrupt") from None


def _int_field(cfg: dict, key: str, where: Path, default: object = None) -> int:
    value = cfg.get(key, default)
    if type(value) is not int:
        raise EdgekitError(f"config field {key} must be an integer, got {value!r}", path=where)
    return value


def config_from_hf(cfg: dict, where: Path) -> ModelConfig:
    """BitNetConfig field names -> ModelConfig, refusing what the architecture contract does not cover."""
    model_type = cfg.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise EdgekitError(f"model_type {model_type!r} is not supported", path=where,
                           fix="edgekit loads BitNet b1.58 checkpoints (model_type \"bitnet\", "
                               "BitNetForCausalLM) and bitnet GGUF files")
    if cfg.get("hidden_act", "relu2") != "relu2":
        raise EdgekitError(f"hidden_act {cfg.get('hidden_act')!r} is not supported (BitNet uses relu2)", path=where)
    if cfg.get("attention_bias", False) or cfg.get("mlp_bias", False):
        raise EdgekitError("attention/MLP biases are not supported by the BitNet contract", path=where)
    hidden = _int_field(cfg, "hidden_size", where)
    heads = _int_field(cfg, "num_attention_heads", where)
    kv_heads = cfg.get("num_key_value_heads")
    kv_heads = heads if kv_heads is None else kv_heads
    if type(kv_heads) is not int:
        raise EdgekitError(f"config field num_key_value_heads must be an integer, got {kv_heads!r}", path=where)
    head_dim = cfg.get("head_dim")
    if head_dim is None:
        if heads <= 0 or hidden % heads:
            raise EdgekitError(f"hidden_size {hidden} is not divisible by num_attention_heads {heads}", path=where,
                               fix="give head_dim explicitly in config.json")
        head_dim = hidden // heads
    # transformers 5 keeps RoPE settings in rope_parameters; older configs have rope_theta/rope_scaling.
    rope = cfg.get("rope_parameters") or {}
    if not isinstance(rope, dict):
        raise EdgekitError(f"config field rope_parameters must be an object, got {rope!r}", path=where)
    scaling = cfg.get("rope_scaling") or {}
    if not isinstance(scaling, dict):
        raise EdgekitError(f"config field rope_scaling must be an object, got {scaling!r}", path=where)
    rope_type = rope.get("rope_type") or scaling.get("rope_type") or scaling.get("type")
    if rope_type not in (None, "default"):
        raise EdgekitError(f"RoPE scaling type {rope_type!r} is not supported (only plain RoPE)", path=where)
    rope_theta = rope.get("rope_theta", cfg.get("rope_theta", 500000.0))
    eps = cfg.get("rms_norm_eps", 1e-5)
    for key, value in (("rope_theta", rope_theta), ("rms_norm_eps", eps)):
        if type(value) not in (int, float) or not math.isfinite(value):
            raise EdgekitError(f"config field {key} must be a number, got {value!r}", path=where)
    eos = cfg.get("eos_token_id")
    if isinstance(eos, list):  # several stop tokens: the image keeps one, the first is the model's own
        eos = eos[0] if eos else None
    bos = cfg.get("bos_token_id")
    for key, value in (("bos_token_id", bos), ("eos_token_id", eos)):
        if value is not None and (type(value) is not int or value < 0):
            raise EdgekitError(f"config field {key} must be a token id, got {value!r}", path=where)
    tied = cfg.get("tie_word_embeddings", False)
    if not isinstance(tied, bool):
        raise EdgekitError(f"config field tie_word_embeddings must be true or false, got {tied!r}", path=where)
    config = ModelConfig(
        vocab_size=_int_field(cfg, "vocab_size", where),
        hidden_size=hidden,
        intermediate_size=_int_field(cfg, "intermediate_size", where),
        num_layers=_int_field(cfg, "num_hidden_layers", where),
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        max_seq_len=_int_field(cfg, "max_position_embeddings", where, 2048),
        rms_norm_eps=float(eps),
        rope_theta=float(rope_theta),
        tie_word_embeddings=tied,
        bos_token_id=bos,
        eos_token_id=eos,
    )
    config.validate(where)
    return config


class _Quantization:
    """What quantization_config says about how projection weights are stored."""

    def __init__(self, cfg: dict, where: Path):
        q = cfg.get("quantization_config")
        self.present = q is not None
        q = q or {}
        if not isinstance(q, dict):
            raise EdgekitError("quantization_config must be an object", path=where)
        method = q.get("quant_method", "bitnet")
        if method != "bitnet":
            raise EdgekitError(f"quantization_config.quant_method {method!r} is not supported", path=where,
                               fix="edgekit reads BitNet (quant_method \"bitnet\") or float master checkpoints")
        self.linear_class = q.get("linear_class", "bitlinear")
        self.mode = q.get("quantization_mode", "offline")
        if self.linear_class not in ("bitlinear", "autobitlinear"):
            raise EdgekitError(f"quantization_config.linear_class {self.linear_class!r} is unknown "
                               "(bitlinear or autobitlinear)", path=where)
        if self.mode not in ("offline", "online"):
            raise EdgekitError(f"quantization_config.quantization_mode {self.mode!r} is unknown", path=where)
        if q.get("use_rms_norm", False):
            raise EdgekitError("quantization_config.use_rms_norm (an RMSNorm inside every BitLinear) is not "
                               "part of the BitNet b1.58 architecture edgekit runs", path=where)
        skipped = q.get("modules_to_not_convert") or []
        self.unconverted = [m for m in skipped if isinstance(m, str) and "proj" in m]
        if self.unconverted:
            raise EdgekitError(f"quantization_config.modules_to_not_convert keeps {self.unconverted[0]} in float; "
                               "edgekit needs every projection ternary", path=where)

    @property
    def float_master(self) -> bool:
        """Float weights that are ternarised on the fly (online) rather than stored as W_q."""
        return not self.present or (self.linear_class == "autobitlinear" and self.mode == "online")


class _Shards:
    """name -> the SafetensorsFile holding it, for single-file and sharded checkpoints."""

    def __init__(self, directory: Path):
        index_path = directory / "model.safetensors.index.json"
        self.files: dict[str, SafetensorsFile] = {}
        self.where: dict[str, SafetensorsFile] = {}
        if index_path.exists():
            index = _read_json(index_path)
            weight_map = index.get("weight_map") if isinstance(index, dict) else None
            if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
                raise EdgekitError("has no weight_map object of tensor name -> shard file", path=index_path)
            for shard in sorted(set(weight_map.values())):
                shard_path = directory / shard
                if Path(shard).name != shard or not shard_path.is_file():
                    raise EdgekitError(f"shard {shard!r} listed in the index is missing", path=index_path,
                                       fix="download every model-XXXXX-of-YYYYY.safetensors file")
                self.files[shard] = SafetensorsFile(shard_path)
            for name, shard in weight_map.items():
                if name not in self.files[shard]:
                    raise EdgekitError(f"index says tensor {name} is in {shard}, but it is not there",
                                       path=index_path, fix="the shards and the index disagree")
                self.where[name] = self.files[shard]
        else:
            single = directory / "model.safetensors"
            candidates = [single] if single.is_file() else sorted(directory.glob("*.safetensors"))
            if not candidates:
                raise EdgekitError("no model.safetensors or model.safetensors.index.json", path=directory,
                                   fix="point edgekit at a Hugging Face BitNet checkpoint directory")
            if len(candidates) > 1:
                raise EdgekitError(f"{len(candidates)} .safetensors files but no model.safetensors.index.json",
                                   path=directory, fix="add the index file that came with the shards")
            sf = SafetensorsFile(candidates[0])
            self.files[candidates[0].name] = sf
            self.where = {name: sf for name in sf.entries}

    def get(self, name: str, directory: Path) -> SafetensorsFile:
        sf = self.where.get(name)
        if sf is None:
            raise EdgekitError(f"tensor {name} is missing", path=directory,
                               fix="the checkpoint is incomplete or not a BitNet b1.58 model")
        return sf


def _float_tensor(sf: SafetensorsFile, hf: str, name: str, role: str, layer: int,
                  shape: tuple[int, ...]) -> FloatTensor:
    entry = sf.entries[hf]
    if entry.dtype not in FLOAT_DTYPES:
        raise EdgekitError(f"tensor {hf} has dtype {entry.dtype}, expected a float type", path=sf.path)
    if entry.shape != shape:
        raise EdgekitError(f"tensor {hf} has shape {entry.shape}, the config implies {shape}", path=sf.path,
                           fix="config.json and the weights disagree")
    return FloatTensor(name=name, role=role, layer=layer, shape=shape, source_format=entry.dtype.lower(),
                       source_bytes=entry.nbytes, _produce=lambda: sf.read_float32(hf),
                       _produce_rows=lambda start, stop: sf.read_float32(hf, (start, stop)))


def _scalar(sf: SafetensorsFile, hf: str) -> float:
    entry = sf.entries[hf]
    if entry.numel != 1:
        raise EdgekitError(f"tensor {hf} has shape {entry.shape}; a per-tensor scale has one element",
                           path=sf.path)
    value = float(sf.read_float32(hf).reshape(-1)[0])
    if not math.isfinite(value) or value <= 0:
        raise EdgekitError(f"tensor {hf} is {value!r}; a weight scale must be positive and finite",
                           path=sf.path, fix="the checkpoint is corrupt")
    return value


def _ternary_tensor(shards: _Shards, directory: Path, quant: _Quantization, hf: str, name: str, role: str,
                    layer: int, shape: tuple[int, ...]) -> TernaryTensor:
    sf = shards.get(hf, directory)
    entry = sf.entries[hf]
    out, cols = shape
    if entry.dtype == "U8":
        # Packed 2-bit codes: bitlinear always, autobitlinear offline too (transformers unpacks them).
        if quant.float_master:
            raise EdgekitError(f"tensor {hf} is packed uint8 but config.json has no BitNet quantization_config",
                               path=sf.path, fix="add the quantization_config that came with the checkpoint")
        if entry.shape != (out // 4, cols) or out % 4:
            raise EdgekitError(f"tensor {hf} has packed shape {entry.shape}, the config implies "
                               f"({out} // 4, {cols})", path=sf.path, fix="config.json and the weights disagree")
        source_format = "hf-2bit"
        produce_codes = lambda: unpack_hf_2bit(sf.read_raw(hf), out, where=sf.path, name=hf)  # noqa: E731
    elif entry.dtype in FLOAT_DTYPES:
        if entry.shape != shape:
            raise EdgekitError(f"tensor {hf} has shape {entry.shape}, the config implies {shape}", path=sf.path,
                               fix="config.json and the weights disagree")
        if quant.float_master:
            return DeferredScaleTernaryTensor(
                name=name, role=role, layer=layer, shape=shape, source_format=entry.dtype.lower(),
                source_bytes=entry.nbytes,
                decode=lambda: absmean_ternarise(sf.read_float32(hf), where=sf.path, name=hf))
        if quant.linear_class == "bitlinear":
            raise EdgekitError(f"tensor {hf} is {entry.dtype} but quantization_config says packed bitlinear "
                               "(uint8)", path=sf.path, fix="config.json and the weights disagree")
        source_format = f"{entry.dtype.lower()}-ternary"
        produce_codes = lambda: require_ternary(sf.read_float32(hf), where=sf.path, name=hf)  # noqa: E731
    else:
        raise EdgekitError(f"tensor {hf} has dtype {entry.dtype}; expected packed uint8 or a float type",
                           path=sf.path)

    scale_name = hf[: -len("weight")] + "weight_scale"
    scale_file = shards.where.get(scale_name)
    if scale_file is None:
        raise EdgekitError(f"tensor {scale_name} is missing (quantized weights need their scale)", path=directory)
    scale = _scalar(scale_file, scale_name)
    # bitlinear stores the divisor 1/mean|W|; autobitlinear multiplies by mean|W| (see module docstring).
    weight_scale = scale if quant.linear_class == "bitlinear" else float(np.float32(1) / np.float32(scale))
    return TernaryTensor(name=name, role=role, layer=layer, shape=shape, source_format=source_format,
                         source_bytes=entry.nbytes, _produce=produce_codes, weight_scale=weight_scale)


def _load_tokenizer(directory: Path):
    """(tokenizers.Tokenizer | None, tokenizer.json text | None, chat template | None)."""
    tok_path = directory / "tokenizer.json"
    tokenizer = text = None
    if tok_path.exists():
        from tokenizers import Tokenizer

        try:
            text = tok_path.read_text(encoding="utf-8")
            tokenizer = Tokenizer.from_str(text)
        except (OSError, UnicodeDecodeError) as e:
            raise EdgekitError(f"cannot read: {e}", path=tok_path) from None
        except Exception as e:  # tokenizers raises a bare Exception on malformed files
            raise EdgekitError(f"not a valid tokenizer.json ({str(e).splitlines()[0][:200]})", path=tok_path,
                               fix="the file is corrupt; download it again") from None
    template = None
    jinja = directory / "chat_template.jinja"
    tok_cfg_path = directory / "tokenizer_config.json"
    if jinja.exists():  # transformers >= 4.43 saves the template beside tokenizer_config.json
        try:
            template = jinja.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise EdgekitError(f"cannot read: {e}", path=jinja) from None
    elif tok_cfg_path.exists():
        tok_cfg = _read_json(tok_cfg_path)
        raw = tok_cfg.get("chat_template") if isinstance(tok_cfg, dict) else None
        if isinstance(raw, list):  # named templates: [{"name": ..., "template": ...}]
            named = {t.get("name"): t.get("template") for t in raw if isinstance(t, dict)}
            raw = named.get("default", next(iter(named.values()), None))
        template = raw if isinstance(raw, str) else None
    return tokenizer, text, template


def load_hf_dir(directory: Path) -> Model:
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise EdgekitError("no config.json", path=directory,
                           fix="point edgekit at a Hugging Face checkpoint directory or a .gguf file")
    cfg = _read_json(config_path)
    if not isinstance(cfg, dict):
        raise EdgekitError("is not a JSON object", path=config_path)
    config = config_from_hf(cfg, config_path)
    quant = _Quantization(cfg, config_path)
    shards = _Shards(directory)
    check_tensor_count(config, len(shards.where), config_path)

    tensors = {}
    for name, role, layer, kind, shape in tensor_layout(config):
        hf = hf_name(role, layer)
        if kind == "ternary":
            tensors[name] = _ternary_tensor(shards, directory, quant, hf, name, role, layer, shape)
        else:
            tensors[name] = _float_tensor(shards.get(hf, directory), hf, name, role, layer, shape)

    tokenizer, tokenizer_json, template = _load_tokenizer(directory)
    if tokenizer is not None and tokenizer.get_vocab_size(with_added_tokens=True) > config.vocab_size:
        raise EdgekitError(f"tokenizer has {tokenizer.get_vocab_size(with_added_tokens=True)} tokens but the "
                           f"model's vocab_size is {config.vocab_size}", path=directory / "tokenizer.json",
                           fix="the tokenizer belongs to another model")
    model = Model(config=config, tensors=tensors, tokenizer=tokenizer, source=directory,
                  source_kind="hf-float" if quant.float_master else "hf-packed", chat_template=template,
                  tokenizer_json=tokenizer_json)
    check_layout(model)
    return model
