"""The .ekm image: round trip, and every corruption (bit flip in any part, truncation) detected and named."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.errors import EdgekitError
from edgekit.gen.spec_header import default_path, render
from edgekit.pack.image import HEADER_SIZE, parse_image, read_image
from edgekit.pack.packer import PackChoice, model_from_images, pack_model
from synthetic import random_model, tiny_config


@pytest.fixture(scope="module")
def model():
    return random_model(tiny_config(tie_word_embeddings=False), seed=3)


@pytest.fixture(scope="module")
def image_bytes(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "m.ekm"
    pack_model(model, path, PackChoice("t158", "f16", "q8row"))
    return path.read_bytes()


@pytest.mark.parametrize("choice", [PackChoice("i2"), PackChoice("t158", "f16"), PackChoice("tl", "q8row", "f32")])
def test_roundtrip_preserves_tensors(model, tmp_path, choice):
    path = tmp_path / "m.ekm"
    pack_model(model, path, choice)
    back = model_from_images(path)
    assert back.config == model.config
    for name, t in model.tensors.items():
        b = back.tensors[name]
        if t.kind == "ternary":
            np.testing.assert_array_equal(b.codes(), t.codes())
            assert b.weight_scale == np.float32(t.weight_scale)
        elif choice.format_for(t.role) == "f32":
            np.testing.assert_array_equal(b.array(), t.array())


def test_sections_are_aligned_and_deterministic(model, tmp_path):
    a, b = tmp_path / "a.ekm", tmp_path / "b.ekm"
    pack_model(model, a)
    pack_model(model, b)
    assert a.read_bytes() == b.read_bytes()
    img = read_image(a)
    assert all(s.offset % 64 == 0 for s in img.sections)


def _expect_refused(data: bytes, match: str):
    with pytest.raises(EdgekitError, match=match):
        parse_image(data, "corrupt.ekm")


def test_header_bit_flips_are_named(image_bytes):
    for byte in range(0, HEADER_SIZE, 7):
        flipped = bytearray(image_bytes)
        flipped[byte] ^= 0x10
        # a flip in the magic is reported as bad magic, anywhere else the header CRC catches it
        _expect_refused(bytes(flipped), "magic" if byte < 4 else "header CRC|version")


def test_table_bit_flips_are_named(image_bytes):
    img = parse_image(image_bytes)
    table_end = HEADER_SIZE + len(img.sections) * 80
    for byte in range(HEADER_SIZE, table_end, 13):
        flipped = bytearray(image_bytes)
        flipped[byte] ^= 0x01
        _expect_refused(bytes(flipped), "section table CRC")


def test_every_section_payload_flip_is_named(image_bytes):
    img = parse_image(image_bytes)
    for s in img.sections:
        flipped = bytearray(image_bytes)
        flipped[s.offset + s.size // 2] ^= 0x80
        _expect_refused(bytes(flipped), rf"\({s.name}\): payload CRC")


@settings(max_examples=40, deadline=None)
@given(cut=st.integers(0, 10**6))
def test_truncation_is_named(image_bytes, cut):
    cut = cut % len(image_bytes)
    _expect_refused(image_bytes[:cut], "truncated")


@settings(max_examples=200, deadline=None)
@given(pos=st.integers(0, 10**7), value=st.integers(0, 255))
def test_any_single_byte_change_is_refused(image_bytes, pos, value):
    pos = pos % len(image_bytes)
    if image_bytes[pos] == value:
        return
    img = parse_image(image_bytes)
    in_padding = pos >= HEADER_SIZE + 80 * len(img.sections) and not any(
        s.offset <= pos < s.offset + s.size for s in img.sections)
    data = bytearray(image_bytes)
    data[pos] = value
    if in_padding:
        parse_image(bytes(data))  # alignment padding carries nothing
    else:
        with pytest.raises(EdgekitError):
            parse_image(bytes(data))


def test_not_an_image(tmp_path):
    p = tmp_path / "x.ekm"
    p.write_bytes(b"GGUF" + bytes(300))
    with pytest.raises(EdgekitError, match="x.ekm: bad magic"):
        read_image(p)


def test_split_image_parts(model, tmp_path):
    placement = {name: (1 if name.startswith("L1.") else 0, 0) for name in model.tensors}
    paths = pack_model(model, [tmp_path / "p0.ekm", tmp_path / "p1.ekm"], placement=placement)
    back = model_from_images(paths)
    np.testing.assert_allclose(back.logits([3, 4, 5]), model.logits([3, 4, 5]), atol=1e-5)
    with pytest.raises(EdgekitError, match="expected all 2 image parts"):
        model_from_images(paths[:1])


def test_failed_write_leaves_nothing(model, tmp_path):
    bad = random_model(tiny_config(), seed=1)
    bad.tensors["L0.q"]._produce = lambda: (_ for _ in ()).throw(EdgekitError("boom"))
    with pytest.raises(EdgekitError):
        pack_model(bad, tmp_path / "m.ekm")
    assert list(tmp_path.iterdir()) == []


def test_generated_c_header_is_fresh():
    assert default_path().read_text() == render(), "run: python -m edgekit.gen.spec_header"
