"""Cortex-M DSP ternary bodies (ek_matvec_i2_dsp.c, ek_matvec_t158_dsp.c) on the M4 (mps2-an386) and M7
(mps2-an500) under qemu-system-arm: their int32 accumulators equal numpy's exact product of the codes the Python
packer packed, bit for bit, on the shapes their structure has edges at: rows % 3 (i2: three rows share each
widened x load, the rest go one by one) and odd rows (t158: two rows), columns around the block (128 / 80) and
around the chunk x is widened in per pass (i2: 512 columns, t158: 8 blocks = 640; several passes add into acc),
t158 row tails of every kind, and the extremes of the int16 lanes (x = -128 against all weights +1 or -1)."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from cpu_features import require_tool
from edgekit.pack.formats import TERNARY_FORMATS
from kernel_builds import build_bare_metal, run_bare_metal, ternary_kernel_sources

SHAPES = {
    # every rows % 3 on one block, under and over a block, one chunk exactly, a chunk and a column, several
    # chunks with a partial block, and a wide row of the 2B-4T down projection
    "i2": [(1, 1), (2, 5), (3, 127), (4, 128), (5, 129), (6, 255), (7, 256), (8, 511), (9, 512), (10, 513),
           (4, 640), (3, 1025), (2, 2000), (1, 6912)],
    # odd and even rows; tails of 1..79 columns; one chunk exactly (640), a chunk and a tail, 9 blocks, several
    # chunks and a tail, a 2B-4T row (86 blocks and a 32-column tail)
    "t158": [(1, 1), (2, 79), (3, 80), (4, 81), (5, 159), (6, 640), (7, 641), (3, 720), (2, 1001), (5, 1359),
             (1, 6912)],
}
BODIES = {"i2": "ek_matvec_i2_dsp", "t158": "ek_matvec_t158_dsp"}
FORMAT_IDS = {"i2": "EK_FMT_I2", "t158": "EK_FMT_T158"}
GUARD = 0x5A5A5A5A  # written after acc[rows - 1]: a body must leave it alone


def cases():
    """(name, format, codes, x) for each shape: random codes and x, then the extremes."""
    rng = np.random.default_rng(17)
    for fmt, shapes in SHAPES.items():
        for rows, cols in shapes:
            codes = rng.integers(-1, 2, size=(rows, cols), dtype=np.int8)
            x = rng.integers(-128, 128, size=cols, dtype=np.int8)
            x[0] = -128
            yield f"{fmt} {rows}x{cols}", fmt, codes, x
            x_min = np.full(cols, -128, np.int8)
            yield f"{fmt} {rows}x{cols} +1", fmt, np.ones((rows, cols), np.int8), x_min
            yield f"{fmt} {rows}x{cols} -1", fmt, np.full((rows, cols), -1, np.int8), x_min


def c_bytes(name: str, data: bytes, ctype: str = "uint8_t", align: int = 4) -> str:
    return (f"static const {ctype} {name}[] __attribute__((aligned({align}))) = {{"
            + ",".join(str(b) for b in data) + "};\n")


def program(all_cases) -> str:
    """The check program: the cases' packed weights, x_q (zero-padded to whole 128-column blocks, as the runtime
    pads it) and numpy's products as data; main runs the case's DSP body on each and prints one line per case."""
    out = ['#include <stdint.h>\n#include <string.h>\n#include "ek_kernels.h"\n',
           "void ek_semihost_write0(const char *text);\n"]
    table = []
    for i, (name, fmt, codes, x) in enumerate(all_cases):
        rows, cols = codes.shape
        x_pad = np.zeros(-(-cols // 128) * 128, np.int8)
        x_pad[:cols] = x
        want = codes.astype(np.int64) @ x.astype(np.int64)
        assert np.all(np.abs(want) < 2**31)
        out.append(c_bytes(f"w{i}", TERNARY_FORMATS[fmt].pack(codes)))
        out.append(c_bytes(f"x{i}", x_pad.tobytes(), "int8_t"))
        out.append(f"static const int32_t want{i}[] = {{{','.join(str(int(v)) for v in want)}}};\n")
        table.append(f'{{"{name}", {FORMAT_IDS[fmt]}, {rows}u, {cols}u, w{i}, x{i}, want{i}}}')
    max_rows = max(c[2].shape[0] for c in all_cases)
    out.append(f"""
typedef struct {{ const char *name; uint32_t format, rows, cols; const uint8_t *w; const int8_t *x;
                 const int32_t *want; }} dsp_case;
static const dsp_case cases[] = {{{', '.join(table)}}};
static int32_t got[{max_rows + 1}];

int main(void)
{{
    int all_ok = 1;
    uint32_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {{
        const dsp_case *c = &cases[i];
        ek_tensor w;
        ek_qvec x;
        int ok;
        w.data = c->w, w.rows = c->rows, w.cols = c->cols, w.scale = 1.0f, w.format = c->format;
        x.q = c->x, x.n = c->cols, x.scale = 1.0f, x.tl_lut = NULL;
        memset(got, 0, sizeof got);
        got[c->rows] = {GUARD};
        if (c->format == EK_FMT_I2)
            ek_matvec_i2_dsp(&w, &x, got);
        else
            ek_matvec_t158_dsp(&w, &x, got);
        ok = memcmp(got, c->want, c->rows * sizeof got[0]) == 0 && got[c->rows] == {GUARD};
        all_ok &= ok;
        ek_semihost_write0(c->name);
        ek_semihost_write0(ok ? " equal\\n" : " DIFFERENT\\n");
    }}
    ek_semihost_write0(all_ok ? "dsp-check: PASS\\n" : "dsp-check: FAIL\\n");
    return all_ok ? 0 : 1;
}}
""")
    return "".join(out)


def linked_symbols(elf) -> set[str]:
    require_tool("arm-none-eabi-nm")
    r = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True)
    return {parts[-1] for parts in (line.split() for line in r.stdout.splitlines()) if parts}


@pytest.mark.parametrize("target", ["cortex-m4-dsp", "cortex-m7-dsp"])
def test_dsp_ternary_bodies_equal_numpy(tmp_path, target):
    all_cases = list(cases())
    source = tmp_path / "dsp_check.c"
    source.write_text(program(all_cases))
    elf = build_bare_metal(target, [source, *ternary_kernel_sources()], tmp_path / "dsp_check.elf")
    assert set(BODIES.values()) <= linked_symbols(elf)
    r = run_bare_metal(target, elf, timeout=300)
    lines = [line for line in r.stdout.splitlines() if line.endswith((" equal", " DIFFERENT"))]
    assert [line.rsplit(" ", 1)[0] for line in lines] == [c[0] for c in all_cases], r.stdout
    assert all(line.endswith(" equal") for line in lines), r.stdout
    assert r.returncode == 0 and "dsp-check: PASS" in r.stdout, r.stdout
