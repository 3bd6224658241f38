"""Model <-> .ekm image: pack a loaded model into image part(s), and open image part(s) as a Model."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.model import FLOAT32_MAX, FloatTensor, Model, TernaryTensor, check_layout, tensor_layout
from edgekit.pack.formats import FLOAT_FORMATS, INTEGER_HEAD_MAX_COLS, Q4I_BLOCK, float_format, ternary_format
from edgekit.pack.image import GLOBAL_LAYER, Image, SectionPayload, read_image, write_images

DEFAULT_TERNARY_FORMAT = "i2"
DEFAULT_EMBED_FORMAT = "f32"


@dataclass(frozen=True)
class PackChoice:
    """Formats for one image: ternary weights, embedding table, untied lm_head. Norms are always f32."""

    ternary: str = DEFAULT_TERNARY_FORMAT
    embedding: str = DEFAULT_EMBED_FORMAT
    lm_head: str = DEFAULT_EMBED_FORMAT

    def format_for(self, role: str) -> str:
        if role == "tok_embeddings":
            return self.embedding
        if role == "lm_head":
            return self.lm_head
        return "f32"


def section_payloads(model: Model, choice: PackChoice, placement: dict[str, tuple[int, int]] | None = None
                     ) -> list[SectionPayload]:
    """One payload per tensor, in image order. `placement` maps name -> (part, region) (default: part 0)."""
    tfmt = ternary_format(choice.ternary)
    for name in (choice.embedding, choice.lm_head):
        float_format(name)
    head_format = choice.embedding if model.config.tie_word_embeddings else choice.lm_head
    hidden = model.config.hidden_size
    max_cols = INTEGER_HEAD_MAX_COLS.get(head_format)
    if max_cols is not None and hidden > max_cols:
        # the firmware and the reference would refuse the image when opened: refuse to write it
        raise EdgekitError(f"a {head_format} head holds rows of at most {max_cols:,} values (its int32 sums); this "
                           f"model's are {hidden:,}", fix="choose q8row, bf16, f16 or f32 for the head")
    if "q4i" in (choice.embedding, choice.lm_head) and hidden % Q4I_BLOCK:
        raise EdgekitError(f"q4i stores rows of whole {Q4I_BLOCK}-value blocks; this model's rows hold {hidden:,}",
                           fix="choose q8i, q8row, bf16, f16 or f32 for the embedding and head")
    payloads = []
    for name, role, layer, kind, shape in tensor_layout(model.config):
        tensor = model.tensors[name]
        part, region = (placement or {}).get(name, (0, 0))
        rows, cols = shape[0], (shape[1] if len(shape) > 1 else 1)
        if isinstance(tensor, TernaryTensor):
            with np.errstate(over="ignore"):
                scale = float(np.float32(tensor.weight_scale))
            if not 0 < scale <= FLOAT32_MAX:  # the firmware refuses such an image: never write one
                raise EdgekitError(f"tensor {name} has weight scale {tensor.weight_scale!r}; it must be positive "
                                   "and finite in float32", path=model.source,
                                   fix="the checkpoint is corrupt (a ternary tensor whose weights are all zero?)")
            produce = (lambda t=tensor: tfmt.pack(t.codes()))
            payloads.append(SectionPayload(name, role, layer, tfmt.name, rows, cols, tensor.weight_scale,
                                           produce, region, part))
        else:
            ffmt = FLOAT_FORMATS[choice.format_for(role)]
            produce = (lambda t=tensor, f=ffmt: f.pack_stream(t.row_chunks()))
            payloads.append(SectionPayload(name, role, layer, ffmt.name, rows, cols, 0.0, produce, region, part))
    return payloads


def host_payloads(model: Model) -> list[SectionPayload]:
    """Host-only sections (edgekit/pack/image.py HOST_KINDS): the tokenizer and chat template, so the image
    works alone on a host. Last in part 0, after every tensor: a device reading forward never meets them."""
    texts = (("tokenizer", model.tokenizer_json), ("chat_template", model.chat_template))
    payloads = []
    for role, text in texts:
        if text is None:
            continue
        data = text.encode("utf-8")
        payloads.append(SectionPayload(role, role, -1, "bytes", len(data), 1, 0.0, (lambda d=data: d)))
    return payloads


def pack_model(model: Model, outputs: list[Path] | Path, choice: PackChoice = PackChoice(), *,
               placement: dict[str, tuple[int, int]] | None = None,
               progress: Callable[[str, int], None] | None = None, host_sections: bool | None = None
               ) -> list[Path]:
    """Write `model` as image part(s). Returns the written paths.

    host_sections: carry the tokenizer (and chat template) in part 0, so the image works alone on a host
    (`edgekit pack`). Default: yes, unless a placement is given: a placed image is planned for a device
    (`edgekit gen`), which never reads them, and the plan's part sizes count tensors only.
    """
    check_layout(model)
    paths = [Path(outputs)] if isinstance(outputs, (str, Path)) else [Path(p) for p in outputs]
    payloads = section_payloads(model, choice, placement)
    if host_sections if host_sections is not None else placement is None:
        payloads += host_payloads(model)
    return write_images(model.config, payloads, paths, tokenizer_hash=model.tokenizer_hash(), progress=progress)


def _tokenizer_from_text(text: str, expected_hash: bytes, where: Path, fix: str):
    import hashlib

    from tokenizers import Tokenizer

    if hashlib.sha256(text.encode("utf-8")).digest() != expected_hash:
        raise EdgekitError("the tokenizer is not the one the image was packed with (tokenizer hash differs)",
                           path=where, fix=fix)
    try:
        return Tokenizer.from_str(text)
    except Exception as exc:  # tokenizers raises its own Exception type for bad JSON
        raise EdgekitError(f"the tokenizer does not load ({exc})", path=where, fix=fix) from None


def _image_tokenizer(image: Image):
    """(tokenizer, tokenizer.json text) from the image's own tokenizer section, else from a tokenizer.json beside
    it (images packed before the section existed, and device images from `gen`); (None, None) when neither."""
    expected = image.header.tokenizer_hash
    if expected == bytes(32):
        return None, None
    data = image.host_data("tokenizer")
    if data is not None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise EdgekitError("the image's tokenizer section is not UTF-8 text", path=image.path,
                               fix="re-pack the model with `edgekit pack`") from None
        return _tokenizer_from_text(text, expected, image.path, "re-pack the model with `edgekit pack`"), text
    candidate = image.path.parent / "tokenizer.json"
    if not candidate.is_file():
        return None, None
    text = candidate.read_text(encoding="utf-8")
    return _tokenizer_from_text(text, expected, candidate, "copy the model's tokenizer.json next to the image"), text


def model_from_images(paths: list[Path] | Path) -> Model:
    """Open validated image part(s) as a Model whose tensors decode the sections (for reference runs)."""
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    images: list[Image] = [read_image(p) for p in paths]
    first = images[0]
    for img in images[1:]:
        if img.header.model_hash != first.header.model_hash:
            raise EdgekitError("image parts come from different models (model hash differs)", path=img.path,
                               fix="use the parts written by one `edgekit pack`/`gen` run")
    counts = {img.header.part_count for img in images}
    indices = sorted(img.header.part_index for img in images)
    if counts != {len(images)} or indices != list(range(len(images))):
        raise EdgekitError(f"expected all {first.header.part_count} image parts, got parts {indices}",
                           path=first.path)
    config = first.config
    tensors = {}
    from edgekit.pack.formats import FORMAT_BY_CODE, TERNARY_FORMATS

    for img in images:
        for s in img.tensor_sections:
            fmt = FORMAT_BY_CODE[s.format]
            layer = -1 if s.layer == GLOBAL_LAYER else s.layer
            shape = s.shape
            if fmt.name in TERNARY_FORMATS:
                produce = (lambda f=fmt, im=img, sec=s: f.unpack(im.payload(sec), sec.rows, sec.cols))
                tensors[s.name] = TernaryTensor(s.name, s.role, layer, shape, f"ekm:{fmt.name}", s.size,
                                                produce, weight_scale=float(np.float32(s.scale)))
            else:
                stored = (lambda im=img, sec=s: bytes(im.payload(sec)))
                produce = (lambda f=fmt, raw=stored, sec=s: f.unpack(raw(), sec.shape))
                tensors[s.name] = FloatTensor(s.name, s.role, layer, shape, f"ekm:{fmt.name}", s.size, produce,
                                              _stored=stored)
    ordered = {}
    for name, *_ in tensor_layout(config):
        if name not in tensors:
            raise EdgekitError(f"no image part holds tensor {name}", path=first.path)
        ordered[name] = tensors[name]
    tokenizer, tok_text = _image_tokenizer(first)
    template = first.host_data("chat_template")
    return Model(config, ordered, tokenizer, first.path, "ekm", tokenizer_json=tok_text,
                 chat_template=template.decode("utf-8", "replace") if template is not None else None)
