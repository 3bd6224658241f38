"""The C runtime (firmware/runtime + kernels) run by the host harness ek_eval, against the numpy reference.

Built once per session with CMake (EK_PORT=none: runtime, harness and C unit tests only). Checks: logits of every
prompt position for every ternary x float format (max |dlogit| is printed; run with -s to see it), identical
greedy and seeded-sampled tokens on the bundled model, multi-part images, every corruption refused with the right
status name, the C unit tests, an ASan/UBSan build, and warning-clean cross compiles for the device targets.
"""
from __future__ import annotations

import platform
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit.model import tensor_layout
from edgekit.pack.image import ENTRY_FIELDS, ENTRY_SIZE, HEADER_FIELDS, HEADER_SIZE
from edgekit.pack.packer import PackChoice, pack_model
from edgekit.reference.generate import generate_tokens
from edgekit.reference.sampler import Sampler
from edgekit.status import STATUSES
from cpu_features import require_tool
from helpers import FIRMWARE, ROOT, build_firmware, c_logits, run_eval
from kernel_builds import AARCH64_TARGETS, MCU_TARGETS
from synthetic import random_model, tiny_config

BUNDLED = "kjv-bitnet-5m"
PROMPT = "And God said, Let there be light: and there was"
TERNARY = ("i2", "t158", "tl")
FLOATS = ("f32", "f16", "q8row")
# Logits agree to float32 rounding (|dlogit| ~1e-6 on the bundled model); the bound leaves room for an int8
# activation rounding flipped by a last-bit difference (docs/design.md §2) without hiding a wrong kernel (errors of
# a wrong kernel are O(1)).
LOGIT_ATOL = 2e-3
SANITIZE = "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

def compare(name: str, c: np.ndarray, ref: np.ndarray) -> float:
    c = c.reshape(ref.shape)
    delta = float(np.abs(c - ref).max())
    top1 = float((c.argmax(-1) == ref.argmax(-1)).mean())
    print(f"{name}: max |dlogit| {delta:.3g} (logits up to {np.abs(ref).max():.3g}), top-1 agreement {top1:.3f}")
    assert delta <= LOGIT_ATOL * max(1.0, float(np.abs(ref).max())), name
    assert top1 == 1.0, name
    return delta


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    return build_firmware(tmp_path_factory)


@pytest.fixture(scope="module")
def bundled():
    return edgekit.load(BUNDLED)


@pytest.fixture(scope="module")
def prompt_ids(bundled) -> list[int]:
    return bundled.encode(PROMPT)


# --- agreement with the reference ------------------------------------------------------------------------------

ODD_CONFIGS = {
    # widths that are not multiples of the i2 block (128), the t158 block (80) or the tl tile (16)
    "gqa2-h72": tiny_config(vocab_size=83, hidden_size=72, intermediate_size=100, num_heads=4, num_kv_heads=2,
                            head_dim=12, tie_word_embeddings=False, max_seq_len=32),
    "gqa2-h136": tiny_config(vocab_size=67, hidden_size=136, intermediate_size=250, num_heads=2, num_kv_heads=1,
                             head_dim=34, num_layers=1, max_seq_len=32),
    "mha-3layers": tiny_config(num_heads=2, num_kv_heads=2, head_dim=32, num_layers=3, tie_word_embeddings=False),
}


@pytest.mark.parametrize("config_name", sorted(ODD_CONFIGS))
@pytest.mark.parametrize("choice", [PackChoice("i2", "f32", "q8row"), PackChoice("t158", "q8row", "f16"),
                                    PackChoice("tl", "f16", "f32")], ids=lambda c: f"{c.ternary}-{c.embedding}")
def test_odd_shapes_match_reference(build, tmp_path, config_name, choice):
    config = ODD_CONFIGS[config_name]
    model = random_model(config, seed=11)
    image = tmp_path / "m.ekm"
    pack_model(model, image, choice)
    ids = list(np.random.default_rng(5).integers(0, config.vocab_size, size=12))
    ref = edgekit.load(image).logits(ids)
    compare(f"{config_name} {choice.ternary}", c_logits(build, [image], ids, tmp_path), ref)


@pytest.mark.parametrize("fixture", ["bitlinear-tied-gqa1", "autobitlinear-untied-gqa4",
                                     "bitlinear-untied-gqa2-sharded"])
def test_checkpoint_fixtures_match_reference(build, tmp_path, fixture):
    path = ROOT / "tests" / "fixtures" / fixture
    if not path.is_dir():
        pytest.skip(f"fixture {fixture} not present")
    model = edgekit.load(path)
    image = tmp_path / "m.ekm"
    pack_model(model, image, PackChoice("i2"))
    ids = list(np.random.default_rng(1).integers(0, model.config.vocab_size, size=10))
    # f32 embedding + i2 holds the checkpoint exactly, so compare with the checkpoint's own reference run
    compare(fixture, c_logits(build, [image], ids, tmp_path), model.logits(ids))


def test_image_split_in_parts_runs_like_one(build, bundled, prompt_ids, tmp_path):
    c = bundled.config
    placement = {}
    for name, role, layer, _, _ in tensor_layout(c):
        placement[name] = (0 if layer < 0 and role == "tok_embeddings" else
                           1 if 0 <= layer < c.num_layers // 2 else 2, 0)
    parts = [tmp_path / f"part{i}.ekm" for i in range(3)]
    pack_model(bundled, parts, PackChoice("i2"), placement=placement)
    one = tmp_path / "one.ekm"
    pack_model(bundled, one, PackChoice("i2"))
    whole = c_logits(build, [one], prompt_ids, tmp_path)
    # parts given in any order
    split = c_logits(build, [parts[2], parts[0], parts[1]], prompt_ids, tmp_path)
    assert np.array_equal(whole, split)


def _greedy_reference(model, ids, n, sampler):
    return list(generate_tokens(model, ids, n, sampler, stop_at_eos=False))


def test_greedy_tokens_identical(build, bundled, prompt_ids, tmp_path):
    image = tmp_path / "m.ekm"
    pack_model(bundled, image, PackChoice("i2"))
    n = 40
    out = run_eval(build, "run", "--tokens", ",".join(map(str, prompt_ids)), "--generate", n, image).stdout
    c_tokens = [int(t) for t in out.split("tokens:")[1].split()]
    ref_tokens = _greedy_reference(edgekit.load(image), prompt_ids, n, Sampler())
    print(f"greedy: {bundled.decode(c_tokens)!r}")
    assert c_tokens == ref_tokens


@pytest.mark.parametrize("temperature, top_k, top_p", [(0.0, 0, 0.0), (1.0, 0, 0.0), (0.5, 5, 0.0),
                                                       (1.3, 0, 0.75), (0.9, 50, 0.95), (2.0, 1, 0.5),
                                                       (1.0, 1000, 0.999)])
def test_sampler_matches_python_mirror(build, tmp_path, temperature, top_k, top_p):
    rng = np.random.default_rng(int(temperature * 100) + top_k)
    logits = (rng.standard_normal(300) * 3).astype(np.float32)
    logits[[10, 20, 30]] = logits.max()  # ties at the top: lower index first
    logits[40:60] = np.float32(0.25)  # and a run of equal middling values
    path = tmp_path / "logits.bin"
    logits.tofile(path)
    draws = 200
    out = run_eval(build, "sample", path, logits.size, temperature, top_k, top_p, 1234, draws).stdout.split()
    sampler = Sampler(temperature, top_k, top_p, seed=1234)
    assert [int(x) for x in out] == [sampler.sample(logits) for _ in range(draws)]


# --- refusing bad images ---------------------------------------------------------------------------------------

HDR = {name: (code, off) for name, code, off in HEADER_FIELDS}
ENT = {name: (code, off) for name, code, off in ENTRY_FIELDS}


def _fix_header_crc(data: bytearray) -> None:
    struct.pack_into("<I", data, HDR["header_crc"][1], 0)
    struct.pack_into("<I", data, HDR["header_crc"][1], zlib.crc32(bytes(data[:HEADER_SIZE])))


def set_header(data: bytearray, **fields) -> bytearray:
    """Rewrite header fields and make the header CRC right again (a consistent but wrong header)."""
    for name, value in fields.items():
        code, off = HDR[name]
        struct.pack_into("<" + code, data, off, value)
    _fix_header_crc(data)
    return data


def section_count(data) -> int:
    return struct.unpack_from("<I", data, HDR["section_count"][1])[0]


def set_entry(data: bytearray, index: int, **fields) -> bytearray:
    """Rewrite a section-table entry and make the table and header CRCs right again."""
    base = HEADER_SIZE + index * ENTRY_SIZE
    for name, value in fields.items():
        code, off = ENT[name]
        struct.pack_into("<" + code, data, base + off, value)
    table = bytes(data[HEADER_SIZE:HEADER_SIZE + section_count(data) * ENTRY_SIZE])
    return set_header(data, table_crc=zlib.crc32(table))


def entry(data, index: int, name: str):
    code, off = ENT[name]
    return struct.unpack_from("<" + code, data, HEADER_SIZE + index * ENTRY_SIZE + off)[0]


def flip(data: bytearray, offset: int, bit: int = 0) -> bytearray:
    data[offset] ^= 1 << bit
    return data


@pytest.fixture(scope="module")
def small_image(tmp_path_factory) -> bytes:
    """Untied tiny model (so lm_head exists). Entries: 0 tok_embeddings, 1 L0.attn_norm, 2 L0.q, ... 7 L0.ffn_norm,
    ..., last lm_head."""
    path = tmp_path_factory.mktemp("small") / "m.ekm"
    pack_model(random_model(tiny_config(tie_word_embeddings=False), seed=2), path, PackChoice("tl", "f16", "q8row"))
    return path.read_bytes()


def _last(data):
    return section_count(data) - 1


CORRUPTIONS = {
    "magic": (lambda d: flip(d, 1), "IMAGE_MAGIC"),
    "version": (lambda d: flip(d, HDR["version_major"][1], 1), "IMAGE_VERSION"),
    "header-config-bit": (lambda d: flip(d, HDR["hidden_size"][1], 3), "IMAGE_HEADER_CRC"),
    "header-hash-bit": (lambda d: flip(d, HDR["model_hash"][1] + 5, 7), "IMAGE_HEADER_CRC"),
    "header-reserved-bit": (lambda d: flip(d, 250), "IMAGE_HEADER_CRC"),
    "header-crc-bit": (lambda d: flip(d, HDR["header_crc"][1]), "IMAGE_HEADER_CRC"),
    "table-bit": (lambda d: flip(d, HEADER_SIZE + ENTRY_SIZE + 45, 2), "IMAGE_TABLE_CRC"),
    "table-name-bit": (lambda d: flip(d, HEADER_SIZE + 3), "IMAGE_TABLE_CRC"),
    "payload-first-section": (lambda d: flip(d, entry(d, 0, "offset") + 7, 4), "IMAGE_SECTION_CRC"),
    "payload-ternary-section": (lambda d: flip(d, entry(d, 2, "offset") + 100), "IMAGE_SECTION_CRC"),
    "payload-last-byte": (lambda d: flip(d, entry(d, _last(d), "offset") + entry(d, _last(d), "size") - 1),
                          "IMAGE_SECTION_CRC"),
    "truncated-by-one": (lambda d: d[:-1], "IMAGE_TRUNCATED"),
    "truncated-half": (lambda d: d[: len(d) // 2], "IMAGE_TRUNCATED"),
    "truncated-in-header": (lambda d: d[:200], "IMAGE_TRUNCATED"),
    "empty": (lambda d: d[:0], "IMAGE_TRUNCATED"),
    "image-size-too-big": (lambda d: set_header(d, image_size=len(d) + 64), "IMAGE_TRUNCATED"),
    "section-count-over-65535": (lambda d: set_header(d, section_count=70000), "IMAGE_BOUNDS"),
    "table-longer-than-image": (lambda d: set_header(d, section_count=len(d) // ENTRY_SIZE), "IMAGE_TRUNCATED"),
    "zero-sections": (lambda d: set_header(d, section_count=0), "IMAGE_BOUNDS"),
    "entry-size": (lambda d: set_header(d, entry_size=64), "IMAGE_VERSION"),
    "part-index": (lambda d: set_header(d, part_index=1), "IMAGE_PARTS"),
    "config-heads-not-multiple": (lambda d: set_header(d, num_kv_heads=3), "IMAGE_CONFIG"),
    "config-zero-layers": (lambda d: set_header(d, num_layers=0), "IMAGE_CONFIG"),
    "config-eps-zero": (lambda d: set_header(d, rms_norm_eps=0.0), "IMAGE_CONFIG"),
    "config-theta-nan": (lambda d: set_header(d, rope_theta=float("nan")), "IMAGE_CONFIG"),
    "config-odd-head-dim": (lambda d: set_header(d, head_dim=15), "IMAGE_CONFIG"),
    "config-bos-outside-vocab": (lambda d: set_header(d, bos_token_id=96), "IMAGE_CONFIG"),
    "config-disagrees-with-sections": (lambda d: set_header(d, intermediate_size=95), "IMAGE_CONFIG"),
    "tied-but-has-lm-head": (lambda d: set_header(d, flags=1), "IMAGE_CONFIG"),
    "section-misaligned": (lambda d: set_entry(d, 0, offset=entry(d, 0, "offset") + 4), "IMAGE_BOUNDS"),
    "section-overlaps": (lambda d: set_entry(d, 1, offset=entry(d, 0, "offset")), "IMAGE_BOUNDS"),
    "section-past-end": (lambda d: set_entry(d, _last(d), offset=len(d) + 64), "IMAGE_BOUNDS"),
    "section-size-wraps": (lambda d: set_entry(d, _last(d), size=2 ** 64 - 64), "IMAGE_BOUNDS"),
    "section-size-for-format": (lambda d: set_entry(d, 1, size=entry(d, 1, "size") - 2), "IMAGE_BOUNDS"),
    "unknown-format": (lambda d: set_entry(d, 1, format=9), "IMAGE_FORMAT"),
    "float-format-for-ternary": (lambda d: set_entry(d, 2, format=16), "IMAGE_FORMAT"),
    "ternary-format-for-norm": (lambda d: set_entry(d, 1, format=1), "IMAGE_FORMAT"),
    "unknown-kind": (lambda d: set_entry(d, 1, kind=99), "IMAGE_CONFIG"),
    "layer-out-of-range": (lambda d: set_entry(d, 1, layer=7), "IMAGE_CONFIG"),
    "duplicate-tensor": (lambda d: set_entry(d, 7, kind=10), "IMAGE_CONFIG"),
    "shape-vs-config": (lambda d: set_entry(d, 1, rows=32, cols=2), "IMAGE_CONFIG"),
    "ternary-scale-zero": (lambda d: set_entry(d, 2, scale=0.0), "IMAGE_CONFIG"),
    "missing-section": (lambda d: set_entry(set_header(d, section_count=section_count(d) - 1), 0),
                        "IMAGE_MISSING_SECTION"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupt_image_refused_with_status(build, small_image, tmp_path, case):
    mutate, status = CORRUPTIONS[case]
    path = tmp_path / "bad.ekm"
    path.write_bytes(bytes(mutate(bytearray(small_image))))
    r = run_eval(build, "run", "--tokens", "1,2", path, check=False)
    assert r.returncode == 2, r.stdout
    assert r.stderr.startswith(f"error: {status}:"), r.stderr


def test_untouched_small_image_runs(build, small_image, tmp_path):
    path = tmp_path / "ok.ekm"
    path.write_bytes(small_image)
    run_eval(build, "run", "--tokens", "1,2", path)


def test_region_larger_than_the_image_is_accepted(build, small_image, tmp_path):
    """A port hands over the whole flash partition; bytes after image_size are not part of the image."""
    path = tmp_path / "partition.bin"
    path.write_bytes(small_image + b"\xff" * 4096)
    run_eval(build, "run", "--tokens", "1,2", path)


def test_payload_crc_check_can_be_skipped(build, small_image, tmp_path):
    bad = bytearray(small_image)
    flip(bad, entry(bad, 2, "offset") + 3)  # a ternary byte: still a valid tl index pair, just a wrong weight
    path = tmp_path / "bad.ekm"
    path.write_bytes(bytes(bad))
    assert run_eval(build, "run", "--tokens", "1", path, check=False).stderr.startswith("error: IMAGE_SECTION_CRC")
    run_eval(build, "run", "--no-verify-crc", "--tokens", "1", path)


@pytest.fixture(scope="module")
def split_parts(bundled, tmp_path_factory):
    d = tmp_path_factory.mktemp("parts")
    placement = {name: (0 if layer < 1 else 1, 0) for name, _, layer, _, _ in tensor_layout(bundled.config)}
    parts = [d / "p0.ekm", d / "p1.ekm"]
    pack_model(bundled, parts, PackChoice("i2"), placement=placement)
    return parts


def test_parts_must_all_be_given(build, split_parts):
    r = run_eval(build, "run", "--tokens", "1", split_parts[0], check=False)
    assert r.stderr.startswith("error: IMAGE_PARTS:")


def test_parts_must_be_distinct(build, split_parts):
    r = run_eval(build, "run", "--tokens", "1", split_parts[0], split_parts[0], check=False)
    assert r.stderr.startswith("error: IMAGE_PARTS:")


def test_parts_must_come_from_one_model(build, split_parts, tmp_path):
    other = bytearray(split_parts[1].read_bytes())
    set_header(other, tokenizer_hash=bytes(range(32)))
    path = tmp_path / "other.ekm"
    path.write_bytes(bytes(other))
    r = run_eval(build, "run", "--tokens", "1", split_parts[0], path, check=False)
    assert r.stderr.startswith("error: IMAGE_PARTS:")


@pytest.mark.parametrize("args, status", [(("--arena-bytes", 4096), "ARENA_TOO_SMALL"),
                                          (("--tokens", "2048"), "BAD_TOKEN"),
                                          (("--ctx", 2, "--tokens", "1,2,3"), "CONTEXT_FULL"),
                                          (("--ctx", 257), "BAD_ARGUMENT")])
def test_runtime_errors_named(build, split_parts, args, status):
    tokens = () if "--tokens" in args else ("--tokens", "1,2")
    r = run_eval(build, "run", *args, *tokens, *split_parts, check=False)
    assert r.returncode == 2 and r.stderr.startswith(f"error: {status}:"), r.stderr


def test_status_names_match_python_table(build):
    for s in STATUSES:
        assert run_eval(build, "status", s.code).stdout.strip() == s.name


# --- C unit tests, sanitizers, cross compiles ------------------------------------------------------------------

def test_c_unit_tests(build):
    r = subprocess.run([str(build / "ek_unit_tests")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 test(s) failed" in r.stdout


def test_under_address_and_undefined_sanitizers(tmp_path_factory, bundled, prompt_ids, small_image, tmp_path):
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("no host C compiler")
    build = build_firmware(tmp_path_factory, "asan", (f"-DCMAKE_C_FLAGS={SANITIZE}", "-DCMAKE_BUILD_TYPE=Debug",
                                                      f"-DCMAKE_EXE_LINKER_FLAGS={SANITIZE}"))
    r = subprocess.run([str(build / "ek_unit_tests")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for ternary, floats in zip(TERNARY, FLOATS):
        image = tmp_path / f"{ternary}.ekm"
        pack_model(bundled, image, PackChoice(ternary, floats, floats))
        logits = c_logits(build, [image], prompt_ids[:4], tmp_path)
        compare(f"asan {ternary}/{floats}", logits, edgekit.load(image).logits(prompt_ids[:4]))
        run_eval(build, "run", "--tokens", "5", "--generate", 4, "--temperature", 1, "--top-k", 5, "--top-p", 0.9,
                 image)
    for case in ("truncated-half", "section-size-wraps", "table-longer-than-image", "missing-section"):
        mutate, status = CORRUPTIONS[case]
        path = tmp_path / "bad.ekm"
        path.write_bytes(bytes(mutate(bytearray(small_image))))
        r = run_eval(build, "run", "--tokens", "1", path, check=False)
        assert r.returncode == 2 and r.stderr.startswith(f"error: {status}:"), r.stderr
    # garbage tl payload read without CRC checks: wrong numbers, but no out-of-bounds access
    bad = bytearray(small_image)
    for i in range(section_count(bad)):
        if entry(bad, i, "format") == 3:
            off = entry(bad, i, "offset")
            bad[off:off + entry(bad, i, "size")] = b"\xff" * entry(bad, i, "size")
    path = tmp_path / "garbage.ekm"
    path.write_bytes(bytes(bad))
    run_eval(build, "run", "--no-verify-crc", "--tokens", "1,2,3", path)


MY_C_FILES = sorted([*(FIRMWARE / "kernels").glob("*.c"),
                     *(FIRMWARE / "runtime" / f"ek_{n}.c" for n in ("image", "model", "sampler", "arena", "crc32"))])
# compiler and flags (kernel bodies enabled) per target: the kernel tests' targets, plus the host compilers
TARGETS = {
    **{name: ("arm-none-eabi-gcc", "-mthumb", *flags) for name, (flags, _machine) in MCU_TARGETS.items()},
    **{f"aarch64-{name}": ("aarch64-linux-gnu-gcc", *flags) for name, (flags, _cpu) in AARCH64_TARGETS.items()},
    "clang": ("clang",),
    "clang-avx2": ("clang", "-mavx2", "-DEK_KERNEL_AVX2"),
    "gcc-avx2": ("gcc", "-mavx2", "-DEK_KERNEL_AVX2"),
}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_runtime_compiles_warning_clean(target, tmp_path):
    compiler, *flags = TARGETS[target]
    require_tool(compiler)
    if "-mavx2" in flags and platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("AVX2 bodies build with the host compiler on x86-64 only")
    for src in MY_C_FILES:
        cmd = [compiler, *flags, "-std=c99", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off", "-O2",
               "-I", str(FIRMWARE / "runtime"), "-I", str(FIRMWARE / "kernels"), "-c", str(src),
               "-o", str(tmp_path / (src.stem + ".o"))]
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr}"


# --- fuzzing the image reader ----------------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

KNOWN_REFUSALS = {s.name for s in STATUSES if s.name.startswith("IMAGE_")} | {"ARENA_TOO_SMALL", "BAD_ARGUMENT"}


@pytest.fixture(scope="module")
def asan_build(tmp_path_factory):
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("no host C compiler")
    return build_firmware(tmp_path_factory, "asan", (f"-DCMAKE_C_FLAGS={SANITIZE}", "-DCMAKE_BUILD_TYPE=Debug",
                                                     f"-DCMAKE_EXE_LINKER_FLAGS={SANITIZE}"))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, HEADER_SIZE + 40 * ENTRY_SIZE), st.integers(1, 255)),
                      min_size=1, max_size=6),
       fix_crcs=st.booleans(), cut=st.one_of(st.none(), st.integers(0, 4096)), verify=st.booleans())
def test_fuzzed_images_are_refused_or_run_safely(asan_build, small_image, tmp_path, edits, fix_crcs, cut, verify):
    """Random byte edits in the header and section table (with CRCs made right again, so the edits reach the
    deep checks), optional truncation: under ASan/UBSan the reader refuses with an image status or the model
    runs; it never crashes or reads out of bounds."""
    data = bytearray(small_image)
    for offset, xor in edits:
        data[offset] ^= xor
    if fix_crcs:
        n = min(section_count(data), (len(data) - HEADER_SIZE) // ENTRY_SIZE)
        struct.pack_into("<I", data, HDR["table_crc"][1],
                         zlib.crc32(bytes(data[HEADER_SIZE:HEADER_SIZE + n * ENTRY_SIZE])))
        _fix_header_crc(data)
    if cut is not None:
        data = data[: len(data) - cut]
    path = tmp_path / "fuzz.ekm"
    path.write_bytes(bytes(data))
    r = run_eval(asan_build, "run", "--tokens", "1,2", *(() if verify else ("--no-verify-crc",)), path, check=False)
    if r.returncode == 0:
        return
    assert r.returncode == 2, r.stderr[-3000:]
    status = r.stderr.split(":")[1].strip() if r.stderr.startswith("error: ") else r.stderr
    assert status in KNOWN_REFUSALS, r.stderr[-3000:]


@pytest.mark.parametrize("ternary", ["i2", "t158", "tl"])
def test_chunked_prefill_under_sanitizers(asan_build, tmp_path, ternary):
    """ek_model_prefill in chunks (portable kernels, ASan + UBSan): the last position's logits and the greedy
    continuation equal the step-by-step run bit for bit; tl images, whose pair-sum table serves one input at a
    time, take the step path inside ek_model_prefill and must agree too."""
    path = tmp_path / f"{ternary}.ekm"
    pack_model(random_model(tiny_config(max_seq_len=96), seed=5), path, PackChoice(ternary, "f16"))
    prompt = ",".join(str((i * 37) % 50 + 1) for i in range(41))
    step_logits, chunk_logits = tmp_path / "step.bin", tmp_path / "chunk.bin"
    step = run_eval(asan_build, "run", "--tokens", prompt, "--generate", "6", "--logits", step_logits, path)
    for chunk in ("4", "32"):
        chunked = run_eval(asan_build, "run", "--tokens", prompt, "--generate", "6", "--prefill-chunk", chunk,
                           "--logits", chunk_logits, path)
        assert chunked.stdout == step.stdout and "tokens:" in step.stdout
        vocab = len(chunk_logits.read_bytes()) // 4
        assert chunk_logits.read_bytes() == step_logits.read_bytes()[-4 * vocab:]
