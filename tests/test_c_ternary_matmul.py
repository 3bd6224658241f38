"""The batched ternary matmul (a prefill chunk: each weight decoded once for all inputs) on every ISA that has one
(i2: NEON and NEON+dotprod under qemu-aarch64, Helium on the bare-metal self-test under qemu-system-arm
(mps3-an547), AVX2 natively; t158: NEON and Helium), and the per-input loop elsewhere. A C harness, the same
source hosted and bare metal, fills random weight bytes (i2: all four 2-bit codes, the corrupt 3 included; t158:
every stored value) and random int8 inputs with the extremes -128 and 127, runs the dispatcher ek_ternary_matmul
and compares every accumulator with the portable matvec (ek_matvec_i2_c, ek_matvec_t158_c) run per input: input
counts from 1 to above the runtime's chunk (EK_PREFILL_MAX_CHUNK), rows and columns with tails, an accumulator
stride wider than the rows whose gaps must stay untouched. The whole-model checks run the bundled model on AArch64:
ek_eval's chunked prefill logits equal token by token and the portable host build's, and the POSIX device with two
threads splitting each chunk's matmul by rows gives the token-by-token logits and tokens."""
from __future__ import annotations

import subprocess

import pytest

from edgekit.plan.arena import PREFILL_MAX_CHUNK

from cpu_features import require_cpu_feature, require_tool
from helpers import FIRMWARE, build_firmware, run_eval
from kernel_builds import (AARCH64_TARGETS, KERNELS, aarch64_build, aarch64_wrapper, build_bare_metal, compile_c,
                           run_bare_metal, ternary_kernel_sources)

MAX_CHUNK = PREFILL_MAX_CHUNK  # the runtime's (generated into ek_arena_layout.h from the same table)

# rows, cols, input counts: 1x1; column tails on both sides of a 128-weight i2 block, t158 row tails (cols % 80 of
# 1 to 60) and whole 80-weight blocks; odd and even rows (the Helium bodies and the NEON i2 body take rows in
# pairs, an odd last row alone); every input count 1..9 (NEON and AVX2 take inputs by 4, Helium by 2: whole tiles
# and each remainder); 1 to above the chunk; 67 rows of 9 i2 blocks
SHAPES = [(1, 1, (1, 2, 3, 5)), (3, 127, tuple(range(1, 10))), (4, 129, (2, 3, 4, 6, 7)), (6, 160, (2, 3, 5)),
          (17, 300, (1, 2, 3, 4, 5, 8, 15, 16, 17, MAX_CHUNK - 1, MAX_CHUNK, MAX_CHUNK + 1, MAX_CHUNK + 5)),
          (2, 1000, (4, 5, 11)), (67, 1100, (2, 4, 5, 9))]
assert max(n for *_, ns in SHAPES for n in ns) > MAX_CHUNK
# the bodies that read each weight once for all inputs, per format
BATCHED = {"i2": {"avx2", "neon", "dotprod", "mve"}, "t158": {"neon", "dotprod", "mve"}}
FORMATS = tuple(BATCHED)

HARNESS_C = r"""
#include <stdint.h>
#include <string.h>
#include "ek_kernels.h"

#if defined(EK_MATMUL_HOSTED)
#include <stdio.h>
static void emit(const char *s) { fputs(s, stdout); }
#else
void ek_semihost_write0(const char *text);
static void emit(const char *s) { ek_semihost_write0(s); }
#endif

/* sized for the 128 KiB of RAM of the bare-metal self-test */
#define MAX_W 20000u
#define MAX_XQ 40000u
#define MAX_ACC 4200u
#define MAX_X 48u
static uint8_t w_bytes[MAX_W];
static int8_t xq[MAX_XQ];
static ek_qvec qv[MAX_X];
static int32_t acc_ref[MAX_ACC], acc_body[MAX_ACC];
static const int32_t SENTINEL = 0x7EADBEEF; /* written by no body (above any |sum| of these shapes) */

static uint32_t lcg_state = 2024u;
static uint32_t next_random(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state >> 8;
}

static void emit_u32(uint32_t v)
{
    char s[12];
    int i = 11;
    s[i] = 0;
    do {
        s[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    emit(s + i);
}

/* the format under test and its portable matvec */
#if !defined(EK_MATMUL_FMT)
#define EK_MATMUL_FMT EK_FMT_I2
#define EK_MATMUL_REF ek_matvec_i2_c
#endif

/* one random weight byte: i2 any byte (every 2-bit code); t158 a stored value ceil(v * 256 / 243), v < 243 */
static uint8_t random_weight_byte(void)
{
    const uint32_t r = next_random();
    return EK_MATMUL_FMT == EK_FMT_T158 ? (uint8_t)(((r % 243u) * 256u + 242u) / 243u) : (uint8_t)(r & 0xFFu);
}

/* weights: -1 random bytes, else every byte = fill (0x00 and 0xFF: every weight -1, or the largest code or +1);
 * x: -1 random with -128/127 planted, else every x_q = xfill. Returns 1 when ek_ternary_matmul equals the portable
 * matvec per input, stride gaps untouched. */
static int run_case(uint32_t rows, uint32_t cols, uint32_t n_x, int fill, int xfill)
{
    const uint32_t pad = (uint32_t)EK_XQ_PAD(cols), stride = rows + 3u;
    const size_t w_size = (size_t)ek_format_packed_size(EK_MATMUL_FMT, rows, cols);
    ek_tensor w;
    uint32_t t, i;
    int same;
    if (w_size > MAX_W || (size_t)pad * n_x > MAX_XQ || (size_t)stride * n_x > MAX_ACC || n_x > MAX_X) {
        emit("matmul case too big for the harness\n");
        return 0;
    }
    for (i = 0; i < w_size; i++)
        w_bytes[i] = fill < 0 ? random_weight_byte() : (uint8_t)fill;
    for (t = 0; t < n_x; t++) {
        int8_t *q = xq + (size_t)t * pad;
        for (i = 0; i < pad; i++)
            q[i] = i >= cols ? 0 : xfill < 0 ? (int8_t)((int)(next_random() & 0xFFu) - 128) : (int8_t)xfill;
        if (xfill < 0 && cols > 2u)
            q[(t * 7u) % cols] = -128, q[(t * 13u + 1u) % cols] = 127;
        qv[t].q = q, qv[t].n = cols, qv[t].scale = 1.0f, qv[t].tl_lut = NULL;
    }
    w.data = w_bytes, w.rows = rows, w.cols = cols, w.format = EK_MATMUL_FMT, w.scale = 1.0f;
    for (i = 0; i < stride * n_x; i++)
        acc_ref[i] = SENTINEL, acc_body[i] = SENTINEL;
    for (t = 0; t < n_x; t++)
        EK_MATMUL_REF(&w, &qv[t], acc_ref + (size_t)t * stride);
    ek_ternary_matmul(&w, qv, n_x, acc_body, stride);
    same = memcmp(acc_ref, acc_body, sizeof(int32_t) * stride * n_x) == 0;
    emit("matmul ");
    emit_u32(rows);
    emit("x");
    emit_u32(cols);
    emit(" n_x ");
    emit_u32(n_x);
    emit(same ? " equal\n" : " DIFFERENT\n");
    return same;
}

static const uint32_t shapes[][2] = {SHAPES_ROWS_COLS};
static const uint32_t counts[][MAX_X] = {SHAPES_COUNTS};

int main(void)
{
    int ok = 1;
    uint32_t s, k;
    emit(ek_ternary_matmul_batched(EK_MATMUL_FMT) ? "kind batched " : "kind per-input ");
    emit(ek_kernel_variant(EK_MATMUL_FMT));
    emit("\n");
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (k = 0; counts[s][k] != 0u; k++)
            ok &= run_case(shapes[s][0], shapes[s][1], counts[s][k], -1, -1);
    /* the extremes of every sum: every weight at its largest code or -1, against x_q -128 or 127 */
    ok &= run_case(7, 1100, 5, 0xFF, -128);
    ok &= run_case(7, 1100, 5, 0xFF, 127);
    ok &= run_case(5, 1025, 6, 0x00, -128);
    ok &= run_case(5, 1025, 6, 0x00, 127);
    emit(ok ? "matmul-check: PASS\n" : "matmul-check: FAIL\n");
    return ok ? 0 : 1;
}
"""

EXTREME_CASES = 4


def harness_source(tmp_path, fmt: str):
    """The harness for `fmt`: its format and portable matvec defined at the top."""
    rows_cols = ", ".join(f"{{{r}u, {c}u}}" for r, c, _ in SHAPES)
    counts = ", ".join("{" + ", ".join(f"{n}u" for n in ns) + ", 0u}" for *_, ns in SHAPES)
    src = tmp_path / f"matmul_check_{fmt}.c"
    src.write_text(f"#define EK_MATMUL_FMT EK_FMT_{fmt.upper()}\n#define EK_MATMUL_REF ek_matvec_{fmt}_c\n" +
                   HARNESS_C.replace("SHAPES_ROWS_COLS", rows_cols).replace("SHAPES_COUNTS", counts))
    return src


def matmul_sources():
    return [*ternary_kernel_sources(), *KERNELS.glob("ek_matmul_*.c"), KERNELS / "ek_ternary_matmul.c"]


def check_output(out: str, fmt: str, variant: str) -> None:
    kind = "batched" if variant in BATCHED[fmt] else "per-input"
    assert f"kind {kind} {variant}\n" in out, out
    lines = [line for line in out.splitlines() if line.startswith("matmul ")]
    assert len(lines) == sum(len(ns) for *_, ns in SHAPES) + EXTREME_CASES, out
    assert all(line.endswith(" equal") for line in lines), out
    assert "matmul-check: PASS" in out, out


def linked(binary, nm: str) -> set[str]:
    r = subprocess.run([nm, str(binary)], capture_output=True, text=True, check=True)
    return {parts[-1] for parts in (line.split() for line in r.stdout.splitlines()) if parts}


@pytest.mark.parametrize("fmt", FORMATS)
def test_portable_loop_equals_per_input(tmp_path, fmt):
    exe = compile_c("gcc", ("-DEK_MATMUL_HOSTED",), [harness_source(tmp_path, fmt), *matmul_sources()],
                    tmp_path / "matmul")
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    check_output(r.stdout, fmt, "c")


@pytest.mark.parametrize("fmt", FORMATS)
def test_avx2_matmul_equals_per_input(tmp_path, fmt):
    require_cpu_feature("avx2")
    exe = compile_c("gcc", ("-mavx2", "-DEK_KERNEL_AVX2", "-DEK_MATMUL_HOSTED"),
                    [harness_source(tmp_path, fmt), *matmul_sources()], tmp_path / "matmul")
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    check_output(r.stdout, fmt, "avx2")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("variant", sorted(AARCH64_TARGETS))
def test_neon_matmul_equals_per_input(tmp_path, variant, fmt):
    """cortex-a72 has no dotprod: the plain NEON body must not use it (QEMU would raise SIGILL)."""
    flags, _ = AARCH64_TARGETS[variant]
    exe = compile_c("aarch64-linux-gnu-gcc", (*flags, "-static", "-DEK_MATMUL_HOSTED"),
                    [harness_source(tmp_path, fmt), *matmul_sources()], tmp_path / "matmul")
    assert {"ek_matmul_i2_neon", "ek_matmul_t158_neon"} <= linked(exe, "aarch64-linux-gnu-nm")
    r = subprocess.run([*aarch64_wrapper(variant), str(exe)], capture_output=True, text=True, timeout=300,
                       check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    check_output(r.stdout, fmt, variant)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("target,variant", [("cortex-m55-mve", "mve"), ("cortex-m55-mve-int", "mve"),
                                            ("cortex-m4-dsp", "dsp")])
def test_mcu_matmul_equals_per_input(tmp_path, target, variant, fmt):
    """Helium (mps3-an547) runs the batched bodies; the Cortex-M4 DSP build keeps the per-input loop."""
    elf = build_bare_metal(target, [harness_source(tmp_path, fmt), *matmul_sources()], tmp_path / "matmul.elf")
    assert ({"ek_matmul_i2_mve", "ek_matmul_t158_mve"} <= linked(elf, "arm-none-eabi-nm")) == (variant == "mve")
    r = run_bare_metal(target, elf, timeout=300)
    assert r.returncode == 0, r.stdout
    check_output(r.stdout, fmt, variant)


@pytest.fixture(scope="module")
def aarch64_device(tmp_path_factory):
    """The POSIX device (threads split a chunk's matmul by rows) cross-built for AArch64 with dotprod; every
    ternary product of 32 rows or more is split (the default keeps the bundled model's small ones whole)."""
    require_tool("aarch64-linux-gnu-gcc", "qemu-aarch64", "cmake")
    build = tmp_path_factory.mktemp("posix-device-aarch64")
    flags = f"{AARCH64_TARGETS['dotprod'][0][0]} -DEK_POSIX_MIN_PARALLEL_TERNARY=1"
    subprocess.run(["cmake", "-S", str(FIRMWARE), "-B", str(build), "-DEK_PORT=posix", "-DEK_BUILD_EVAL=OFF",
                    "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_SYSTEM_NAME=Linux", "-DCMAKE_SYSTEM_PROCESSOR=aarch64",
                    "-DCMAKE_C_COMPILER=aarch64-linux-gnu-gcc", f"-DCMAKE_C_FLAGS={flags}",
                    "-DCMAKE_EXE_LINKER_FLAGS=-static", "-DEK_KERNELS=neon;dotprod"], check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(build), "-j2"], check=True, capture_output=True)
    return build / "edgekit-device"


@pytest.mark.parametrize("fmt", FORMATS)
def test_neon_threads_split_the_matmul(aarch64_device, tmp_path, fmt):
    """Two threads split each chunk's matmul by rows (sub-tensors with any row count), chunks of 7 leave a
    remainder: logits and greedy tokens equal the token-by-token run's, bit for bit."""
    import edgekit
    from edgekit.link.client import DeviceClient, TokenEvent
    from edgekit.link.device_process import DeviceProcess
    from edgekit.pack.packer import PackChoice, pack_model

    model = edgekit.load("kjv-bitnet-5m")
    image = tmp_path / "m.ekm"
    pack_model(model, image, PackChoice(fmt))
    ids = list(model.encode("In the beginning God created the heaven and the earth. And the earth was without form"))

    def run(args):
        with DeviceProcess(aarch64_device, [image], args=args, wrapper=list(aarch64_wrapper("dotprod"))) as dev, \
                DeviceClient(dev.url, timeout_scale=20) as client:
            ident = client.hello()
            logits = client.logits(ids).values
            tokens = [e.token_id for e in client.generate(ids, max_new_tokens=6, temperature=0.0, stop_at_eos=False)
                      if isinstance(e, TokenEvent)]
            return ident, logits, tokens

    _, want_logits, want_tokens = run(["--prefill-chunk", "1"])
    ident, got_logits, got_tokens = run(["--prefill-chunk", "7", "--threads", "2"])
    assert ident.threads == 2 and "dotprod" in ident.kernel, ident
    assert got_logits.tobytes() == want_logits.tobytes() and got_tokens == want_tokens


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("variant", sorted(AARCH64_TARGETS))
def test_neon_chunked_prefill_logits_unchanged(tmp_path_factory, tmp_path, variant, fmt):
    """The bundled model on the AArch64 build: a 70-token prompt prefilled in chunks of 32 and 8 (the NEON matmul,
    with a tail chunk) gives the same last logits and greedy tokens as token by token, and as the portable host
    build."""
    import edgekit
    from edgekit.pack.packer import PackChoice, pack_model

    model = edgekit.load("kjv-bitnet-5m")
    image = tmp_path / "m.ekm"
    pack_model(model, image, PackChoice(fmt))
    ids = list(model.encode("In the beginning God created the heaven and the earth. " * 8))[:70]
    assert len(ids) == 70
    ids = ",".join(map(str, ids))
    wrapper = aarch64_wrapper(variant)
    runs = {}
    for name, build, extra, wrap in (
            ("host-step", build_firmware(tmp_path_factory), ("--prefill-chunk", "1"), ()),
            ("step", aarch64_build(tmp_path_factory, variant), ("--prefill-chunk", "1"), wrapper),
            ("chunk", aarch64_build(tmp_path_factory, variant), ("--prefill-chunk", str(MAX_CHUNK)), wrapper),
            ("chunk-8", aarch64_build(tmp_path_factory, variant), ("--prefill-chunk", "8"), wrapper)):
        out = tmp_path / f"{name}.bin"
        r = run_eval(build, "run", "--tokens", ids, "--generate", "4", "--logits", out, *extra, image, wrapper=wrap)
        runs[name] = (r.stdout, out.read_bytes())
    assert "tokens:" in runs["step"][0]
    for name in ("step", "chunk", "chunk-8"):
        assert runs[name][0] == runs["host-step"][0], name
        vocab = len(runs[name][1]) // 4
        assert runs[name][1] == runs["host-step"][1][-4 * vocab:], name
