"""SCons build script of the edgekit bare-metal Cortex-M platform (PlatformIO runs it for `pio run`).

What it adds to PlatformIO's generic program build (piobuild's BuildProgram, which compiles the sources that
build_src_filter selects, applies build_flags and links with board_build.ldscript):
  * the system GNU Arm toolchain, through the local package toolchain-edgekit-arm-none-eabi whose bin/ links
    to the arm-none-eabi-* programs edgekit found on PATH when it generated the project;
  * the core's code-generation flags from the board (build.cpu_flags, overridden per project by
    board_build.cpu_flags in platformio.ini) on every compile, assemble and link step, so the linker picks the
    matching newlib/libgcc multilib (hard-float ABI, FPU);
  * the same bare-metal link as the CMake build (firmware/ports/common/cortex-m.cmake): the port supplies the
    vector table and reset handler (-nostartfiles) and newlib's system calls (ek_newlib_stubs.c), newlib-nano
    supplies libc and libm is linked, unused sections are dropped;
  * outputs firmware.elf, firmware.bin (objcopy of the loadable sections) and firmware.map; the linker prints
    how full each memory region is, and the size of every section is printed after each build.
"""
import os
import shlex
import sys

from SCons.Script import AlwaysBuild, Builder, Default, DefaultEnvironment  # pylint: disable=import-error

TOOLCHAIN_PACKAGE = "toolchain-edgekit-arm-none-eabi"
TOOL_PREFIX = "arm-none-eabi-"

env = DefaultEnvironment()
platform = env.PioPlatform()
board = env.BoardConfig()


def fail(message):
    sys.stderr.write("Error: %s\n" % message)
    env.Exit(1)


def flag_list(value):
    """board_build.* overrides arrive from platformio.ini as one string; board JSON gives a list."""
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


toolchain_dir = platform.get_package_dir(TOOLCHAIN_PACKAGE)
if not toolchain_dir:
    fail("package %s is not installed; regenerate the project with `edgekit gen` (it links the system "
         "arm-none-eabi-gcc into .pio-local/)" % TOOLCHAIN_PACKAGE)
toolchain_bin = os.path.join(toolchain_dir, "bin")
compiler = os.path.join(toolchain_bin, TOOL_PREFIX + "gcc")
if not os.path.exists(compiler):  # a dangling link: the project moved to a machine without the compiler
    fail("%s does not lead to a compiler; install gcc-arm-none-eabi with apt or run `make deps`, then "
         "regenerate the project" % compiler)


def tool(name):
    # A bare name: PlatformIO puts the toolchain package's bin/ first on PATH (LoadPioPlatform), and SCons
    # would split an absolute path that contains a space into two words.
    return TOOL_PREFIX + name


cpu_flags = flag_list(board.get("build.cpu_flags", []))
if not any(f.startswith("-mcpu=") for f in cpu_flags):
    fail("board %s has no -mcpu= in build.cpu_flags; set board_build.cpu_flags in platformio.ini, e.g. "
         "`-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16`" % env.subst("$BOARD"))

env.Replace(
    AR=tool("gcc-ar"),
    RANLIB=tool("gcc-ranlib"),
    AS=tool("as"),
    CC=tool("gcc"),
    CXX=tool("g++"),
    LINK=tool("gcc"),
    OBJCOPY=tool("objcopy"),
    EK_SIZETOOL=tool("size"),
    ARFLAGS=["rc"],
    PROGNAME="firmware",
    PROGSUFFIX=".elf",
)

env.Append(
    # .S files go through $CC with $ASPPFLAGS, which defaults to $ASFLAGS; plain .s through $AS (GNU as takes
    # the same -mcpu/-mthumb/-mfloat-abi/-mfpu options).
    ASFLAGS=list(cpu_flags),
    # One section per function/object so --gc-sections can drop what the firmware never calls.
    CCFLAGS=list(cpu_flags) + ["-ffunction-sections", "-fdata-sections"],
    LINKFLAGS=list(cpu_flags) + [
        "-nostartfiles",
        "--specs=nano.specs",
        "-Wl,--gc-sections",
        # Relative to the project (where SCons runs the linker): an absolute path may contain a space.
        "-Wl,-Map,%s" % os.path.relpath(env.subst(os.path.join("$BUILD_DIR", "firmware.map")),
                                        env.subst("$PROJECT_DIR")),
        "-Wl,--print-memory-usage",
    ],
    LIBS=["m"],
    BUILDERS=dict(
        ElfToBin=Builder(
            action=env.VerboseAction("$OBJCOPY -O binary $SOURCES $TARGET", "Building $TARGET"),
            suffix=".bin",
        ),
    ),
)

if not board.get("build.ldscript", ""):
    fail("no linker script: set board_build.ldscript in platformio.ini (edgekit projects use firmware.ld)")

target_elf = env.BuildProgram()
target_bin = env.ElfToBin(os.path.join("$BUILD_DIR", "${PROGNAME}"), target_elf)

# The linker reports how full each memory region is (--print-memory-usage); this adds every section's size
# and address on each build, even when nothing was relinked. (PlatformIO's own checkprogsize would compare
# against fixed board maxima, but the plan decides which region holds what.)
sizes = env.Alias("size", target_elf, env.VerboseAction("$EK_SIZETOOL -A -d $SOURCES", "Section sizes:"))
AlwaysBuild(sizes)

Default([target_bin, sizes])
