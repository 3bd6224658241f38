"""PlatformIO builds of generated firmware projects: offline, with the system arm-none-eabi-gcc.

The builds run under `unshare -n` (no network at all) where the machine allows it; everywhere else every
HTTP(S) client of PlatformIO is pointed at a closed local port by edgekit.build.platformio. Either way a
build that needed PlatformIO's registry (platform, toolchain or tool-scons) fails here.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from edgekit.boards.linker import write_linker_script
from edgekit.boards.registry import load_board
from edgekit.build import platformio as pio
from edgekit.errors import EdgekitError

HAVE_COMPILER = shutil.which("arm-none-eabi-gcc") is not None
needs_compiler = pytest.mark.skipif(not HAVE_COMPILER, reason="arm-none-eabi-gcc is not installed (`make deps`)")
needs_platformio = pytest.mark.skipif(not pio.platformio_available(),
                                      reason="PlatformIO is not installed (pip install platformio scons)")

EMULATED_BOARDS = ("qemu-mps3-an547", "qemu-mps2-an386", "qemu-mps2-an500", "qemu-netduinoplus2")
TEST_MAGIC = 0x5EED
EXPECTED_EXIT_STATUS = 8              # lrintf(2.5f * 3.0f) = lrintf(7.5f), rounded half to even
QEMU_TIMEOUT_S = 30

# Every check is a build error, so the ELF only exists when defines, include dirs, CPU flags and the source
# filter all reached the compiler as intended.
MAIN_C = """\
#include <math.h>
#include <stdint.h>
#include "ek_config.h"   /* found through include_dirs ["."] */

#if !defined(EK_TEST_CONFIG_H)
#error "the generated ek_config.h was not included"
#endif
#if !defined(EK_TEST_MAGIC) || EK_TEST_MAGIC != 0x5EED
#error "defines from write_platformio_project did not reach the compiler"
#endif
#if defined(EK_TEST_EXPECT_MVE) && !defined(__ARM_FEATURE_MVE)
#error "cpu flags did not reach the compiler: no Helium (MVE) on the Cortex-M55 build"
#endif
#if defined(EK_TEST_EXPECT_DSP) && !defined(__ARM_FEATURE_DSP)
#error "cpu flags did not reach the compiler: no DSP extension on the Cortex-M4 build"
#endif
#if !defined(__ARM_FP) || !defined(__ARM_PCS_VFP)
#error "cpu flags did not reach the compiler: not a hard-float build"
#endif
/* A string-literal define arrives as that string literal ("" EK_TEST_NAME only compiles for one). */
typedef char ek_test_name_is_the_board_name[sizeof("" EK_TEST_NAME) == EK_TEST_NAME_SIZE ? 1 : -1];

uint32_t ek_test_value(float x);  /* firmware/lib/value.c: a second source directory */

volatile uint32_t ek_test_sink;

/* Semihosting SYS_EXIT_EXTENDED: QEMU (-semihosting) exits with `status`. */
static void ek_test_exit(uint32_t status)
{
    volatile uint32_t block[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, status};
    register uint32_t op __asm__("r0") = 0x20u;
    register volatile uint32_t *arg __asm__("r1") = block;
    __asm__ volatile("bkpt 0xab" : : "r"(op), "r"(arg) : "memory");
}

int main(void)
{
    ek_test_sink = ek_test_value(2.5f);   /* lrintf(7.5f): 8 under round-half-to-even */
    ek_test_exit(ek_test_sink);
    for (;;) {
    }
}
"""

VALUE_C = """\
#include <math.h>
#include <stdint.h>

/* lrintf comes from newlib's libm: proves the link pulls in the right (hard-float) multilib. */
uint32_t ek_test_value(float x)
{
    return (uint32_t)lrintf(x * 3.0f);
}
"""

# Vector table and reset handler in assembly: proves .S sources are built and linked first in the text region
# (QEMU boots from the table there); the reset handler enables the FPU, which main's float code needs.
VECTORS_S = """\
    .syntax unified
    .thumb
    .section .ek_vectors, "a"
    .word __ek_stack_top
    .word ek_reset_handler

    .text
    .thumb_func
    .global ek_reset_handler
ek_reset_handler:
    /* Enable the FPU (CPACR CP10/CP11 full access) before any float instruction runs. */
    ldr r0, =0xE000ED88
    ldr r1, [r0]
    orr r1, r1, #(0xF << 20)
    str r1, [r0]
    dsb
    isb
    bl main
1:  b 1b
"""

# Source directories are not searched recursively (like the CMake build's file(GLOB dir/*.c)).
NOT_BUILT_C = '#error "a subdirectory of a source directory was compiled"\n'
# source_files picks single files from a directory (as ports pick from ports/common): the others stay out.
NOT_CHOSEN_C = '#error "a file next to a chosen source file was compiled"\n'


def unshare_prefix() -> tuple[str, ...]:
    """("unshare", "-n") when this process may create a network namespace (root in CI), else ()."""
    for prefix in (("unshare", "-n"), ("unshare", "-rn")):
        if shutil.which(prefix[0]) and subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return ()


def make_project(root: Path, board_name: str, *, main_c: str = MAIN_C) -> tuple[Path, dict]:
    """A tiny firmware project laid out like a generated one; returns (dir, write_platformio_project args)."""
    board = load_board(board_name)
    files = {
        "firmware/app/main.c": main_c,
        "firmware/app/unused/not_built.c": NOT_BUILT_C,
        "firmware/lib/value.c": VALUE_C,
        "firmware/startup/vectors.S": VECTORS_S,
        "firmware/startup/not_chosen.c": NOT_CHOSEN_C,
        "ek_config.h": "#ifndef EK_TEST_CONFIG_H\n#define EK_TEST_CONFIG_H 1\n#endif\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    write_linker_script(root / "firmware.ld", board)
    features = set(board.cpu.features)
    defines = {"EK_TEST_MAGIC": f"{TEST_MAGIC:#x}", "EK_TEST_NAME": f'"{board.name}"',
               "EK_TEST_NAME_SIZE": len(board.name) + 1}
    if "mve" in features:
        defines["EK_TEST_EXPECT_MVE"] = None
    if "dsp" in features:
        defines["EK_TEST_EXPECT_DSP"] = 1
    args = dict(env_name=board.name, cpu_flags=list(board.toolchain.cpu_flags), defines=defines,
                include_dirs=["."], source_dirs=["firmware/app", "firmware/lib"],
                source_files=["firmware/startup/vectors.S"],
                ldscript="firmware.ld", extra_c_flags=["-O2", "-std=c99", "-ffp-contract=off", "-Wall", "-Werror"])
    return root, args


def readelf(*args: str) -> str:
    return subprocess.run(["arm-none-eabi-readelf", *args], capture_output=True, text=True, check=True).stdout


# --- the builds -------------------------------------------------------------------------------------------

@needs_compiler
@needs_platformio
@pytest.mark.parametrize("board_name, cpu_arch", [("qemu-mps3-an547", "v8.1-M.mainline"),
                                                  ("qemu-mps2-an386", "v7E-M")])
def test_pio_run_builds_offline(tmp_path, board_name, cpu_arch):
    project, args = make_project(tmp_path / "proj", board_name)
    pio.write_platformio_project(project, **args)
    elf = pio.build_with_platformio(project, board_name, run_prefix=unshare_prefix(), timeout_s=300)

    assert elf == pio.firmware_elf_path(project, board_name) and elf.is_file()
    header = readelf("-h", str(elf))
    assert "Machine:                           ARM" in header
    assert "hard-float ABI" in header
    assert f"Tag_CPU_arch: {cpu_arch}" in readelf("-A", str(elf))

    # Laid out by the project's linker script: vectors at the text region's base, .bss in the data region.
    board = load_board(board_name)
    text_region, data_region = board.region(board.layout.text), board.region(board.layout.data)
    symbols = {line.split()[-1]: line.split() for line in readelf("-sW", str(elf)).splitlines()
               if len(line.split()) >= 8}
    assert int(symbols["ek_reset_handler"][1], 16) & ~1 >= text_region.base
    assert symbols["ek_test_value"][3] == "FUNC"                       # the second source dir was built
    sink = int(symbols["ek_test_sink"][1], 16)
    assert data_region.base <= sink < data_region.base + data_region.size_bytes
    sections = readelf("-SW", str(elf))
    text_line = next(line for line in sections.splitlines() if " .text " in line)
    assert int(text_line.split()[text_line.split().index(".text") + 2], 16) == text_region.base

    bin_path = elf.with_suffix(".bin")
    assert bin_path.is_file() and bin_path.stat().st_size > 0
    # The vector table leads the raw image: initial SP = top of the stack, reset vector = our handler | 1.
    words = bin_path.read_bytes()[:8]
    assert int.from_bytes(words[4:8], "little") == int(symbols["ek_reset_handler"][1], 16)

    log = (project / ".pio" / f"edgekit-pio-{board_name}.log").read_text()
    assert "SUCCESS" in log and ".ek_arena" in log                      # the section sizes were printed

    # It runs: QEMU boots the ELF, the reset handler enables the FPU, main calls libm and exits through
    # semihosting with the computed value.
    if shutil.which(board.qemu.binary) is None:
        return                                                         # the build checks above still stand
    run = subprocess.run([board.qemu.binary, "-machine", board.qemu.machine, "-nographic", "-monitor", "none",
                          "-serial", "null", "-semihosting-config", "enable=on,target=native",
                          "-kernel", str(elf)], capture_output=True, text=True, timeout=QEMU_TIMEOUT_S)
    assert run.returncode == EXPECTED_EXIT_STATUS, run.stderr


@needs_compiler
@needs_platformio
def test_compile_error_is_an_edgekit_error_with_pio_output(tmp_path):
    project, args = make_project(tmp_path / "proj", "qemu-mps3-an547",
                                 main_c=MAIN_C + "\nint broken(void) { return undeclared_identifier; }\n")
    pio.write_platformio_project(project, **args)
    with pytest.raises(EdgekitError) as excinfo:
        pio.build_with_platformio(project, "qemu-mps3-an547", run_prefix=unshare_prefix(), timeout_s=300)
    message = str(excinfo.value)
    assert "pio run -e qemu-mps3-an547" in message and "failed" in message
    assert "undeclared_identifier" in message                          # the compiler's own words, quoted
    assert "edgekit-pio-qemu-mps3-an547.log" in message


# --- the generated project --------------------------------------------------------------------------------

@needs_compiler
def test_platformio_ini_is_deterministic_and_stamped(tmp_path):
    from edgekit import __version__

    project, args = make_project(tmp_path / "proj", "qemu-mps3-an547")
    ini = pio.write_platformio_project(project, **args)
    first = ini.read_bytes()
    assert pio.write_platformio_project(project, **args).read_bytes() == first
    text = first.decode()
    assert f"edgekit {__version__}" in text
    assert "[env:qemu-mps3-an547]" in text and "board = qemu-mps3-an547" in text
    assert "board_build.cpu_flags = -mcpu=cortex-m55 -mthumb -mfloat-abi=hard" in text
    assert "board_build.ldscript = firmware.ld" in text
    assert "platform = symlink://.pio-local/platform-edgekit-cortexm" in text
    assert "core_dir = .pio-local/core" in text
    assert str(tmp_path) not in text                                   # relocatable: no absolute paths

    # A second project in another directory gets the same file.
    other, other_args = make_project(tmp_path / "elsewhere", "qemu-mps3-an547")
    assert pio.write_platformio_project(other, **other_args).read_bytes() == first


@needs_compiler
def test_local_packages_are_self_contained(tmp_path):
    project, args = make_project(tmp_path / "proj", "qemu-mps2-an500")
    pio.write_platformio_project(project, **args)
    local = project / ".pio-local"
    platform = json.loads((local / "platform-edgekit-cortexm" / "platform.json").read_text())
    assert platform["name"] == "edgekit-cortexm" and "toolchain-edgekit-arm-none-eabi" in platform["packages"]
    gcc = local / "toolchain-edgekit-arm-none-eabi" / "bin" / "arm-none-eabi-gcc"
    assert gcc.is_symlink() and gcc.resolve() == Path(shutil.which("arm-none-eabi-gcc")).resolve()
    toolchain = json.loads((local / "toolchain-edgekit-arm-none-eabi" / "package.json").read_text())
    version = subprocess.run([str(gcc), "-dumpversion"], capture_output=True, text=True).stdout.strip()
    assert toolchain["version"].startswith(version.split(".")[0] + ".")
    if pio.platformio_available():
        scons = local / "core" / "packages" / "tool-scons"
        assert (scons / "scons.py").is_file()
        record = json.loads((scons / ".piopm").read_text())
        from platformio.dependencies import get_core_dependencies
        import semantic_version

        assert semantic_version.Version(record["version"]) in semantic_version.SimpleSpec(
            get_core_dependencies()["tool-scons"])
        state = json.loads((local / "core" / "appstate.json").read_text())
        assert state["settings"]["enable_telemetry"] is False


def test_platform_boards_agree_with_board_profiles():
    boards_dir = pio.templates_dir() / pio.PLATFORM_PACKAGE / "boards"
    for name in EMULATED_BOARDS:
        board = load_board(name)
        manifest = json.loads((boards_dir / f"{name}.json").read_text())
        assert manifest["build"]["cpu_flags"] == list(board.toolchain.cpu_flags), name
        assert manifest["build"]["cpu"] == board.cpu.core, name
        assert manifest["build"]["f_cpu"] == f"{board.cpu.clock_hz}L", name
        assert manifest["upload"]["maximum_size"] == board.region(board.layout.text).size_bytes, name
        assert manifest["upload"]["maximum_ram_size"] == board.region(board.layout.data).size_bytes, name


@needs_compiler
def test_unknown_env_name_uses_the_generic_board(tmp_path):
    project, args = make_project(tmp_path / "proj", "qemu-mps2-an386")
    args["env_name"] = "my-cortex-m4"
    text = pio.write_platformio_project(project, **args).read_text()
    assert "board = edgekit-cortexm" in text
    assert "board_build.cpu_flags = -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16" in text


# --- errors -----------------------------------------------------------------------------------------------

def test_missing_compiler_is_a_clear_error(tmp_path, monkeypatch):
    project, args = make_project(tmp_path / "proj", "qemu-mps3-an547")
    if HAVE_COMPILER:
        pio.write_platformio_project(project, **args)       # generated on a machine that has the compiler
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(EdgekitError, match=r"arm-none-eabi-gcc.*install gcc-arm-none-eabi with apt or run `make deps`"):
        pio.write_platformio_project(project, **args)
    if HAVE_COMPILER and pio.platformio_available():
        with pytest.raises(EdgekitError, match=r"install gcc-arm-none-eabi with apt or run `make deps`"):
            pio.build_with_platformio(project, "qemu-mps3-an547")


@needs_compiler
@pytest.mark.parametrize("change, pattern", [
    (dict(env_name="bad env"), "environment name"),
    (dict(cpu_flags=["-mthumb"]), "no -mcpu="),
    (dict(source_dirs=["/somewhere/else"]), "outside the project"),
    (dict(ldscript="../firmware.ld"), "outside the project"),
    (dict(ldscript="missing.ld"), "does not exist"),
    (dict(source_dirs=["firmware/missing"]), "does not exist"),
    (dict(source_files=["firmware/startup"]), "does not exist"),
    (dict(source_files=["ek_config.h"]), "not C or assembly"),
    (dict(defines={"EK_NAME": "two words"}), "whitespace"),
    (dict(defines={"EK_NAME": '"two words"'}), "whitespace"),
    (dict(defines={"1BAD": 1}), "not a C identifier"),
    (dict(extra_c_flags=["-DX=$(HOME)"]), r"'\$'"),
])
def test_bad_arguments_are_edgekit_errors(tmp_path, change, pattern):
    project, args = make_project(tmp_path / "proj", "qemu-mps3-an547")
    with pytest.raises(EdgekitError, match=pattern):
        pio.write_platformio_project(project, **{**args, **change})
    assert not (project / "platformio.ini").exists()


def test_build_without_project_is_a_clear_error(tmp_path):
    with pytest.raises(EdgekitError, match="no platformio.ini"):
        pio.build_with_platformio(tmp_path, "qemu-mps3-an547")


def test_offline_environment_drops_user_platformio_settings(tmp_path):
    env = pio.offline_environment(tmp_path, {"PATH": "/usr/bin", "PLATFORMIO_BUILD_FLAGS": "-DEVIL",
                                             "HTTPS_PROXY": "http://proxy.example:3128"})
    assert "PLATFORMIO_BUILD_FLAGS" not in env
    assert env["PLATFORMIO_CORE_DIR"] == str(tmp_path / ".pio-local" / "core")
    assert env["PLATFORMIO_SETTING_ENABLE_TELEMETRY"] == "No"
    assert env["HTTPS_PROXY"] == env["https_proxy"] == pio.CLOSED_PROXY
    assert env["PATH"] == "/usr/bin"
