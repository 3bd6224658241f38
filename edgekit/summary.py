"""What `edgekit inspect` reports about a model: architecture, parameter counts, per-tensor storage, tokenizer."""
from __future__ import annotations

from edgekit.model import Model


def model_summary(model: Model, image=None) -> dict:
    """A JSON-able description of a loaded model (and of its image, when it came from one)."""
    c = model.config
    counts = model.param_counts()
    ternary_bytes = sum(t.source_bytes for t in model if t.kind == "ternary")
    tensors = []
    for t in model:
        tensors.append({"name": t.name, "role": t.role, "kind": t.kind, "shape": list(t.shape),
                        "format": t.source_format, "bytes": t.source_bytes,
                        "bits_per_weight": round(8 * t.source_bytes / t.numel, 3)})
    tok = model.tokenizer
    tokenizer = None
    if tok is not None:
        specials = []
        for tid in (c.bos_token_id, c.eos_token_id):
            if tid is not None:
                specials.append({"id": tid, "token": tok.id_to_token(tid)})
        tokenizer = {"vocab_size": tok.get_vocab_size(with_added_tokens=True), "special_tokens": specials,
                     "chat_template": model.chat_template is not None,
                     "sha256": model.tokenizer_hash().hex()}
    out = {
        "source": str(model.source), "source_kind": model.source_kind, "architecture": "bitnet-b1.58",
        "config": c.to_dict(),
        "parameters": {"ternary": counts["ternary"], "float": counts["float"],
                       "total": counts["ternary"] + counts["float"]},
        "bytes": {"ternary": ternary_bytes, "total": sum(t.source_bytes for t in model)},
        "ternary_bits_per_weight": round(8 * ternary_bytes / counts["ternary"], 3) if counts["ternary"] else 0,
        "tokenizer": tokenizer, "tensors": tensors,
    }
    if image is not None:
        h = image.header
        out["image"] = {"version": f"{h.version_major}.{h.version_minor}", "part": h.part_index,
                        "parts": h.part_count, "size_bytes": h.image_size, "model_hash": h.model_hash.hex(),
                        "tokenizer_hash": h.tokenizer_hash.hex(),
                        "sections": [{"name": s.name, "format": s.format_name, "offset": s.offset,
                                      "size": s.size, "crc32": f"{s.crc:08x}", "region": s.region}
                                     for s in image.tensor_sections],
                        # the tokenizer / chat template the image carries for the host (docs/image-format.md)
                        "host_sections": [{"name": s.name, "offset": s.offset, "size": s.size,
                                           "crc32": f"{s.crc:08x}"} for s in image.sections if s.host_only]}
    return out
