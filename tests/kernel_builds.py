"""Building the kernel sources straight into small test programs and running them: bare metal under
qemu-system-arm (the self-test start-up and linker script in firmware/tests/selftest), AArch64 under qemu-aarch64,
or natively. Shared by the kernel tests so that a target's flags are written once."""
from __future__ import annotations

import subprocess
from pathlib import Path

from cpu_features import require_tool
from helpers import FIRMWARE, build_firmware

KERNELS = FIRMWARE / "kernels"
RUNTIME = FIRMWARE / "runtime"
SELFTEST = FIRMWARE / "tests" / "selftest"
CFLAGS = ("-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off")

# Cortex-M targets under qemu-system-arm: name -> (compiler flags incl. kernel options, QEMU machine)
MCU_TARGETS = {
    # as qemu-mps3-an547's project builds it (kernel families c;mve;dsp): Helium must win over the DSP bodies
    "cortex-m55-mve": (("-mcpu=cortex-m55", "-mfloat-abi=hard", "-DEK_KERNEL_MVE", "-DEK_KERNEL_DSP"), "mps3-an547"),
    # Helium without its floating-point extension: integer MVE bodies, portable float and quantisation
    "cortex-m55-mve-int": (("-mcpu=cortex-m55+nomve.fp", "-mfloat-abi=hard", "-DEK_KERNEL_MVE"), "mps3-an547"),
    "cortex-m4-dsp": (("-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-DEK_KERNEL_DSP"), "mps2-an386"),
    "cortex-m7-dsp": (("-mcpu=cortex-m7", "-mfloat-abi=hard", "-mfpu=fpv5-d16", "-DEK_KERNEL_DSP"), "mps2-an500"),
    "cortex-m4-portable": (("-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"), "mps2-an386"),
}

# AArch64 Linux targets under qemu-aarch64: name -> (compiler flags incl. kernel options, QEMU -cpu)
AARCH64_TARGETS = {
    "neon": (("-march=armv8-a", "-DEK_KERNEL_NEON"), "cortex-a72"),
    "dotprod": (("-march=armv8.2-a+dotprod", "-DEK_KERNEL_NEON", "-DEK_KERNEL_DOTPROD"), "cortex-a76"),
}


# C shared by the kernel-check harnesses (after their emit() and MAX_ROWS): the y buffers, a sentinel no kernel
# writes, and hex output of float bits
HARNESS_OUTPUT_C = r"""
static float y_ref[MAX_ROWS], y_body[MAX_ROWS];
static const uint32_t SENTINEL = 0x7FC0DEADu; /* a NaN no kernel writes */

static void emit_hex(uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    char s[10];
    int i;
    for (i = 0; i < 8; i++)
        s[i] = digits[(v >> (28 - 4 * i)) & 15u];
    s[8] = ' ';
    s[9] = 0;
    emit(s);
}

static void fill_sentinel(uint32_t rows)
{
    uint32_t r;
    for (r = 0; r < rows; r++)
        memcpy(&y_body[r], &SENTINEL, 4);
}
"""

def ternary_kernel_sources() -> list[Path]:
    return [*KERNELS.glob("ek_matvec_*.c"), *KERNELS.glob("ek_quantize_*.c"), KERNELS / "ek_ternary_matvec.c",
            KERNELS / "ek_formats.c"]


def all_kernel_sources() -> list[Path]:
    return sorted(KERNELS.glob("ek_*.c"))


# The AVX-512 bodies' own flags, by file name ending: the files firmware/CMakeLists.txt gives the same flags to (a
# run-time tier build, EK_KERNEL_AVX512, compiles only these with AVX-512; the rest stays AVX2 code).
X86_TIER_FLAGS = (("_avx512vnni.c", ("-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni")),
                  ("_avx512.c", ("-mavx512f", "-mavx512bw", "-mavx512vl")))
# a native x86-64 build with the run-time tiers, as the host board's (edgekit.gen.project.kernel_families)
X86_RUNTIME_FLAGS = ("-mavx2", "-mf16c", "-DEK_KERNEL_AVX2", "-DEK_KERNEL_AVX512")


def x86_tier_flags(source: Path) -> tuple[str, ...] | None:
    """The AVX-512 flags of a run-time tier body file, None for every other file."""
    return next((flags for ending, flags in X86_TIER_FLAGS if source.name.endswith(ending)), None)


def compile_x86_runtime(flags, sources, out: Path, *, include=()) -> Path:
    """compile_c with gcc for a build with the run-time AVX-512 tiers: each tier body file compiled alone with its
    own flags (as CMake does), then linked with the rest, which gets `flags` only."""
    objects = []
    for source in sources:
        tier = x86_tier_flags(source)
        if tier is not None:
            obj = out.parent / f"{out.name}.{source.stem}.o"
            cmd = ["gcc", "-c", *flags, *tier, *CFLAGS, "-I", str(RUNTIME), "-I", str(KERNELS),
                   *(f"-I{d}" for d in include), str(source), "-o", str(obj)]
            r = subprocess.run(cmd, capture_output=True, text=True, check=False)
            assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr}"
            objects.append(obj)
    rest = [s for s in sources if x86_tier_flags(s) is None]
    return compile_c("gcc", flags, [*rest, *objects], out, include=include)


def compile_c(compiler: str, flags, sources, out: Path, *, include=()) -> Path:
    require_tool(compiler)
    cmd = [compiler, *flags, *CFLAGS, "-I", str(RUNTIME), "-I", str(KERNELS), *(f"-I{d}" for d in include),
           *map(str, sources), "-o", str(out), "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr}"
    return out


def build_bare_metal(target: str, sources, out: Path, extra_flags=()) -> Path:
    """An ELF for MCU_TARGETS[target] that boots at address 0 and reports over semihosting."""
    require_tool("arm-none-eabi-gcc", "qemu-system-arm")
    flags, _ = MCU_TARGETS[target]
    return compile_c("arm-none-eabi-gcc", (*flags, "-mthumb", *extra_flags, "-nostartfiles", "--specs=nano.specs",
                                           "--specs=nosys.specs", "-T", str(SELFTEST / "ek_selftest.ld")),
                     [SELFTEST / "ek_selftest_startup.c", *sources], out)


def run_bare_metal(target: str, elf: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run under qemu-system-arm; stdout and stderr joined in .stdout."""
    _, machine = MCU_TARGETS[target]
    r = subprocess.run(["qemu-system-arm", "-machine", machine, "-nographic", "-semihosting", "-kernel", str(elf)],
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout + r.stderr, "")


# the same targets as CMake builds them (EK_KERNELS), with the host harness ek_eval and the unit tests
AARCH64_CMAKE_KERNELS = {"neon": "neon", "dotprod": "neon;dotprod"}


def aarch64_build(tmp_path_factory, variant: str) -> Path:
    """firmware/ cross-built for AArch64 Linux (static) with AARCH64_TARGETS[variant]'s kernels, once per session."""
    require_tool("aarch64-linux-gnu-gcc", "qemu-aarch64")
    march = AARCH64_TARGETS[variant][0][0]
    return build_firmware(tmp_path_factory, f"aarch64-{variant}", (
        "-DCMAKE_SYSTEM_NAME=Linux", "-DCMAKE_SYSTEM_PROCESSOR=aarch64", "-DCMAKE_C_COMPILER=aarch64-linux-gnu-gcc",
        f"-DCMAKE_C_FLAGS={march}", "-DCMAKE_EXE_LINKER_FLAGS=-static", "-DEK_BUILD_EVAL=ON",
        f"-DEK_KERNELS={AARCH64_CMAKE_KERNELS[variant]}"))


def aarch64_wrapper(target: str) -> tuple[str, ...]:
    require_tool("aarch64-linux-gnu-gcc", "qemu-aarch64")
    return ("qemu-aarch64", "-cpu", AARCH64_TARGETS[target][1])
