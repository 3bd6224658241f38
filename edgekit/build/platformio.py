"""Build a generated firmware project with PlatformIO (`pio run`), offline, with the system arm-none-eabi-gcc.

PlatformIO normally downloads three things from its registry: the development platform, the toolchain
package and its own build engine (the core package tool-scons). None of them may come from the network here,
so a generated project carries local stand-ins in `<project>/.pio-local/`:

    .pio-local/platform-edgekit-cortexm/        copy of firmware/platformio/platform-edgekit-cortexm (the
                                                platform: platform.json, platform.py, builder/main.py, boards/)
    .pio-local/toolchain-edgekit-arm-none-eabi/ package.json + bin/ links to the arm-none-eabi-* programs
                                                found on PATH (machine-specific, so made here, not shipped)
    .pio-local/core/                            PlatformIO's core dir for this project (platformio.ini sets
                                                core_dir), holding packages/tool-scons: a launcher for the
                                                PyPI `scons` package installed next to PlatformIO

platformio.ini names the platform and the toolchain with relative `symlink://` URIs, so PlatformIO links to
them instead of installing anything, and the project directory can move as a whole.

write_platformio_project() writes platformio.ini (deterministic, version-stamped) and the local packages;
build_with_platformio() refreshes the machine-specific packages and runs `pio run` with an environment that
switches off every network feature (telemetry, upgrade checks) and points any HTTP(S) client at a closed
local port, so a build that tried to download something fails at once instead of succeeding by accident.
"""
from __future__ import annotations

import collections
import fnmatch
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Mapping, Sequence

from edgekit.atomic_file import write_text_atomic as _write_text_atomic
from edgekit.errors import EdgekitError

PLATFORM_PACKAGE = "platform-edgekit-cortexm"
TOOLCHAIN_PACKAGE = "toolchain-edgekit-arm-none-eabi"
SCONS_PACKAGE = "tool-scons"
LOCAL_DIR = ".pio-local"              # inside the project; everything PlatformIO needs besides itself
CORE_DIR = f"{LOCAL_DIR}/core"        # PlatformIO's state, cache and core packages for this project only
GENERIC_BOARD = "edgekit-cortexm"     # board JSON used when the env name is not one of the platform's boards
COMPILER = "arm-none-eabi-gcc"
TOOL_PREFIX = "arm-none-eabi-"
MISSING_COMPILER_FIX = "install gcc-arm-none-eabi with apt or run `make deps`"
MISSING_PLATFORMIO_FIX = "install it with `pip install platformio scons` (or `pip install edgekit[platformio]`)"

# Any HTTP(S) request from PlatformIO or pip goes to this proxy, where nothing listens (port 9 is "discard"):
# the request fails immediately and visibly instead of hanging on a firewall or quietly downloading.
CLOSED_PROXY = "http://127.0.0.1:9"

DEFAULT_TIMEOUT_S = 600.0             # a full firmware build on 2 cores takes well under a minute
DEFAULT_JOBS = 2                      # the team's machines and CI have 2 cores
ERROR_TAIL_LINES = 40                 # lines of pio output quoted in an EdgekitError

SOURCE_PATTERNS = ("*.c", "*.S", "*.s")  # what the platform compiles: C and assembly (with/without cpp)

_ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Characters platformio.ini or SCons would reinterpret inside one build flag: whitespace splits a flag, '$'
# is SCons/PlatformIO substitution, '%' is configparser interpolation, quotes and backslashes are shell-split.
_UNSAFE_IN_FLAG = re.compile(r"[\s$%\"'\\]")


# --- where things are -------------------------------------------------------------------------------------

def templates_dir() -> Path:
    """firmware/platformio/: the platform and package templates (checkout or installed package data)."""
    from edgekit.boards.linker import firmware_dir

    path = firmware_dir() / "platformio"
    if not (path / PLATFORM_PACKAGE / "platform.json").is_file():
        raise EdgekitError("the PlatformIO platform template is missing", path=path, fix="reinstall edgekit")
    return path


def firmware_elf_path(project_dir: str | os.PathLike, env_name: str) -> Path:
    """Where `pio run -e env_name` leaves the ELF (PlatformIO's default build_dir, which we never change)."""
    return Path(project_dir) / ".pio" / "build" / env_name / "firmware.elf"


def platformio_available() -> bool:
    """True when PlatformIO can be run from this Python (build_with_platformio runs `python -m platformio`)."""
    return importlib.util.find_spec("platformio") is not None


# --- small helpers ----------------------------------------------------------------------------------------

def _write_json_atomic(path: Path, data: Mapping) -> None:
    _write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _replace_dir(staged: Path, dest: Path) -> None:
    """Put a fully written directory in place of `dest` (rename, so readers never see half a package)."""
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        old = dest.with_name(f".{dest.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(staged, dest)


def _staging_dir(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
    staged.chmod(0o755)                # mkdtemp makes it private; a package directory is an ordinary one
    return staged


def _edgekit_version() -> str:
    from edgekit import __version__

    return __version__


# --- local packages ---------------------------------------------------------------------------------------

def find_compiler() -> Path:
    """arm-none-eabi-gcc on PATH, or an EdgekitError that says how to install it."""
    found = shutil.which(COMPILER)
    if not found:
        raise EdgekitError(f"{COMPILER} is not on PATH; PlatformIO builds use the system GNU Arm toolchain",
                           fix=MISSING_COMPILER_FIX)
    return Path(found)


def _compiler_version(compiler: Path) -> str:
    try:
        out = subprocess.run([str(compiler), "-dumpversion"], capture_output=True, text=True, timeout=30,
                             check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise EdgekitError(f"{compiler} does not run ({exc})", fix=MISSING_COMPILER_FIX) from exc
    # PlatformIO wants a semantic version; gcc may print "12" or "12.2.1".
    parts = (re.findall(r"\d+", out) + ["0", "0", "0"])[:3]
    return ".".join(str(int(p)) for p in parts)


def install_toolchain_package(project_dir: Path) -> Path:
    """(Re)make .pio-local/toolchain-edgekit-arm-none-eabi: package.json + bin/ links to the compiler's
    arm-none-eabi-* siblings. Machine-specific, so it is redone before every build."""
    compiler = find_compiler()
    bin_dir = compiler.parent
    dest = project_dir / LOCAL_DIR / TOOLCHAIN_PACKAGE
    manifest = json.loads((templates_dir() / TOOLCHAIN_PACKAGE / "package.json").read_text(encoding="utf-8"))
    manifest["version"] = _compiler_version(compiler)
    manifest["edgekit_compiler"] = str(compiler)
    staged = _staging_dir(dest)
    try:
        (staged / "bin").mkdir()
        for program in sorted(bin_dir.glob(TOOL_PREFIX + "*")):
            if program.is_file() and os.access(program, os.X_OK):
                # Link to the path as found (not its resolved target): gcc finds cc1/as/ld and newlib from
                # its own location either way, and /usr/bin names survive package upgrades.
                (staged / "bin" / program.name).symlink_to(program)
        _write_json_atomic(staged / "package.json", manifest)
        _replace_dir(staged, dest)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return dest


def install_platform_package(project_dir: Path, *, replace: bool = True) -> Path:
    """Copy the platform template into .pio-local/, stamped with this edgekit's version."""
    dest = project_dir / LOCAL_DIR / PLATFORM_PACKAGE
    if dest.is_dir() and not replace:
        return dest
    staged = _staging_dir(dest)
    try:
        shutil.copytree(templates_dir() / PLATFORM_PACKAGE, staged, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        manifest_path = staged / "platform.json"
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        manifest["version"] = _edgekit_version()
        _write_json_atomic(manifest_path, manifest)
        _replace_dir(staged, dest)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return dest


def _scons_version_for_platformio() -> str:
    """The tool-scons version the installed PlatformIO asks for (it refuses any other and would download)."""
    from platformio.dependencies import get_core_dependencies
    import semantic_version

    requirement = get_core_dependencies()[SCONS_PACKAGE]          # e.g. "~4.41101.0"
    match = re.search(r"\d+\.\d+\.\d+", requirement)
    if not match or semantic_version.Version(match.group(0)) not in semantic_version.SimpleSpec(requirement):
        raise EdgekitError(f"this PlatformIO asks for {SCONS_PACKAGE} {requirement!r}, which edgekit cannot "
                           "stand in for", fix="install a PlatformIO 6.x release (`pip install 'platformio<7'`)")
    return match.group(0)


def install_scons_package(project_dir: Path) -> Path:
    """(Re)make the project's core packages/tool-scons: a launcher for the PyPI `scons` package, labelled
    with the version the installed PlatformIO looks for. Redone before every build (PlatformIO may change)."""
    if importlib.util.find_spec("SCons") is None:
        raise EdgekitError(f"SCons is not installed in {sys.executable}; PlatformIO builds run it from PyPI's "
                           "`scons` package here", fix="install it with `pip install scons`")
    import SCons

    dest = project_dir / CORE_DIR / "packages" / SCONS_PACKAGE
    version = _scons_version_for_platformio()
    # The registry numbers SCons a.b.c as a.abbcc.0 (4.11.1 -> 4.41101.0); the majors must agree.
    wanted_major, installed_major = version.split(".")[0], str(SCons.__version__).split(".")[0]
    if wanted_major != installed_major:
        raise EdgekitError(f"PlatformIO expects SCons {wanted_major}.x but SCons {SCons.__version__} is installed",
                           fix=f"install a matching one with `pip install 'scons>={wanted_major},<{int(wanted_major) + 1}'`")
    template = templates_dir() / SCONS_PACKAGE
    manifest = json.loads((template / "package.json").read_text(encoding="utf-8"))
    manifest["version"] = version
    manifest["edgekit_scons_version"] = SCons.__version__
    # .piopm is PlatformIO's record of an installed package; it looks core packages up by owner "platformio".
    record = {"type": "tool", "name": SCONS_PACKAGE, "version": version,
              "spec": {"owner": "platformio", "id": None, "name": SCONS_PACKAGE, "requirements": None,
                       "uri": None}}
    staged = _staging_dir(dest)
    try:
        shutil.copy2(template / "scons.py", staged / "scons.py")
        _write_json_atomic(staged / "package.json", manifest)
        _write_json_atomic(staged / ".piopm", record)
        _replace_dir(staged, dest)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return dest


# Settings kept in the project's core dir, so that even a plain `pio run` typed in the project stays offline.
CORE_SETTINGS = {
    "enable_telemetry": False,
    "check_platformio_interval": 36500,   # days between "is there a new PlatformIO?" checks
}


def prepare_core_state(project_dir: Path) -> Path:
    """Write the project core dir's appstate.json: our settings, and the running PlatformIO version.

    PlatformIO compares the recorded version with its own at start-up; when they differ it "upgrades" by
    updating its core packages from the registry. A project core dir is ours, so we keep it current instead.
    """
    from platformio import __version__ as pio_version

    state_path = project_dir / CORE_DIR / "appstate.json"
    state: dict = {}
    if state_path.is_file():
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            state = {}                 # a corrupt state file is PlatformIO's cache, safe to start over
    wanted = dict(state)
    wanted["last_version"] = pio_version
    wanted["settings"] = {**state.get("settings", {}), **CORE_SETTINGS}
    if wanted != state:
        _write_json_atomic(state_path, wanted)
    return state_path


def forget_package_links(project_dir: Path) -> None:
    """Remove PlatformIO's records of the symlink:// packages (core_dir/*/NAME.pio-link).

    Each record holds the absolute directory `pio run` ran in, against which the relative symlink:// URI is
    resolved; in a copied or moved project it would still lead to the old location. PlatformIO re-creates
    them from platformio.ini on the next run, locally, in milliseconds.
    """
    core = project_dir / CORE_DIR
    for kind in ("platforms", "packages"):
        for record in (core / kind).glob("*.pio-link"):
            record.unlink()


def install_local_packages(project_dir: str | os.PathLike, *, replace_platform: bool = True) -> Path:
    """Everything in .pio-local/ that `pio run` needs; returns the .pio-local directory."""
    project_dir = Path(project_dir).resolve()
    forget_package_links(project_dir)
    install_toolchain_package(project_dir)
    install_platform_package(project_dir, replace=replace_platform)
    if platformio_available():
        # Which tool-scons version to impersonate depends on the PlatformIO installed; without one the
        # project still gets written (CMake builds it) and build_with_platformio fills this in later.
        install_scons_package(project_dir)
        prepare_core_state(project_dir)
    return project_dir / LOCAL_DIR


# --- platformio.ini ---------------------------------------------------------------------------------------

def _project_relative(project_dir: Path, path: str | os.PathLike, what: str) -> str:
    """A POSIX path relative to the project; the project must be self-contained."""
    p = Path(path)
    if p.is_absolute():
        try:
            p = p.resolve().relative_to(project_dir)
        except ValueError:
            raise EdgekitError(f"{what} {path} lies outside the project {project_dir}",
                               fix="copy it into the project and give a path relative to it") from None
    text = Path(os.path.normpath(p)).as_posix()      # "a/../b" -> "b"; PlatformIO's filter wants it plain
    if text.startswith("../") or text == "..":
        raise EdgekitError(f"{what} {path} lies outside the project {project_dir}",
                           fix="copy it into the project and give a path relative to it")
    _check_flag(text, what)
    return text


def _existing(project_dir: Path, path: str | os.PathLike, what: str, kind_test) -> str:
    rel = _project_relative(project_dir, path, what)
    if not kind_test(project_dir / rel):
        raise EdgekitError(f"{what} {rel} does not exist in the project {project_dir}",
                           fix="write the project's sources and linker script before platformio.ini")
    return rel


def _check_flag(text: str, what: str) -> str:
    if not text or _UNSAFE_IN_FLAG.search(text):
        raise EdgekitError(f"{what} {text!r} is empty or contains whitespace, a quote, '$', '%' or a backslash, "
                           "which platformio.ini cannot pass through unchanged",
                           fix="move such values into the generated ek_config.h")
    return text


# A C string literal as a define value (CMake's NAME="text"), limited to characters that survive the
# ini -> shlex -> SCons -> shell round trip unchanged.
_STRING_DEFINE = re.compile(r'^"[A-Za-z0-9_.:/+=@,-]*"$')


def _define_flag(name: str, value: object) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise EdgekitError(f"define name {name!r} is not a C identifier", fix="use letters, digits and _")
    if value is None or value is True:
        return f"-D{name}"
    if value is False:
        return f"-D{name}=0"
    if isinstance(value, str) and _STRING_DEFINE.match(value):
        # Single quotes keep the double quotes through PlatformIO's shlex split; PlatformIO then escapes
        # them for the compiler's command line, so C sees a string literal.
        return f"'-D{name}={value}'"
    return _check_flag(f"-D{name}={value}", "define")


def render_platformio_ini(*, env_name: str, board_id: str, cpu_flags: Sequence[str], defines: Mapping,
                          include_dirs: Sequence[str], source_dirs: Sequence[str], ldscript: str,
                          extra_c_flags: Sequence[str], source_files: Sequence[str] = ()) -> str:
    """The text of platformio.ini; paths are already project-relative POSIX strings."""
    src_filter = ["-<*>"]
    for d in source_dirs:
        prefix = "" if d in ("", ".") else f"{d.rstrip('/')}/"
        # One level only, like the CMake build's file(GLOB dir/*.c): a directory pattern would recurse.
        src_filter += [f"+<{prefix}{pattern}>" for pattern in SOURCE_PATTERNS]
    src_filter += [f"+<{f}>" for f in source_files]
    build_flags = [_define_flag(str(k), v) for k, v in defines.items()]
    build_flags += [f"-I{d}" for d in include_dirs]
    build_flags += [_check_flag(f, "C flag") for f in extra_c_flags]

    def block(values: Sequence[str]) -> str:
        return "".join(f"\n    {v}" for v in values)

    lines = [
        f"; platformio.ini - generated by edgekit {_edgekit_version()} (edgekit.build.platformio); do not edit,",
        "; regenerate with `edgekit gen`. Builds offline with the system arm-none-eabi-gcc: the platform, the",
        f"; toolchain and PlatformIO's SCons are local packages under {LOCAL_DIR}/ (`edgekit build` refreshes",
        "; the machine-specific ones). The same sources, defines and flags as the CMake build.",
        "",
        "[platformio]",
        f"core_dir = {CORE_DIR}",
        "src_dir = .",
        f"default_envs = {env_name}",
        "",
        f"[env:{env_name}]",
        f"platform = symlink://{LOCAL_DIR}/{PLATFORM_PACKAGE}",
        f"platform_packages ={block([f'{TOOLCHAIN_PACKAGE} @ symlink://{LOCAL_DIR}/{TOOLCHAIN_PACKAGE}'])}",
        f"board = {board_id}",
        f"board_build.cpu_flags = {' '.join(_check_flag(f, 'CPU flag') for f in cpu_flags)}",
        f"board_build.ldscript = {ldscript}",
        f"build_src_filter ={block(src_filter)}",
        f"build_flags ={block(build_flags)}" if build_flags else "build_flags =",
        "; no libraries: skip PlatformIO's include scanner (faster, and nothing to look up)",
        "lib_ldf_mode = off",
        "",
    ]
    return "\n".join(lines)


def write_platformio_project(project_dir: Path, *, env_name: str, cpu_flags: list[str], defines: dict,
                             include_dirs: list[str], source_dirs: list[str], ldscript: str,
                             extra_c_flags: list[str], source_files: Sequence[str] = ()) -> Path:
    """Write `<project>/platformio.ini` and the local packages it refers to; returns the ini's path.

    Paths (include_dirs, source_dirs, source_files, ldscript) are relative to project_dir, or absolute inside
    it, and must exist: write the sources and the linker script first.
    source_dirs: directories whose *.c / *.S / *.s files are compiled (not recursive, like the CMake build).
    source_files: single sources besides those, for directories only partly used (ports/common: each port
        takes some of its files, as its port.cmake lists them).
    defines: name -> value (None/True: `-DNAME`, False: `-DNAME=0`, else `-DNAME=value`; a value written
        as a C string literal, e.g. '"qemu-mps3-an547"', reaches C as that string literal).
    env_name doubles as the board id when the platform has a board JSON of that name (the emulated boards);
    any other name builds against the generic Cortex-M board with these cpu_flags.
    """
    project_dir = Path(project_dir).resolve()
    if not _ENV_NAME.match(env_name):
        raise EdgekitError(f"PlatformIO environment name {env_name!r} is not usable",
                           fix="use letters, digits, '-', '_' or '.'")
    if not any(str(f).startswith("-mcpu=") for f in cpu_flags):
        raise EdgekitError(f"cpu_flags {list(cpu_flags)} have no -mcpu=", fix="pass the board's toolchain.cpu_flags")
    if not source_dirs and not source_files:
        raise EdgekitError("no sources for the PlatformIO project", fix="pass source_dirs or source_files")
    rel_sources = [_existing(project_dir, d, "source directory", Path.is_dir) for d in source_dirs]
    rel_files = [_existing(project_dir, f, "source file", Path.is_file) for f in source_files]
    for f in rel_files:
        if not any(fnmatch.fnmatchcase(Path(f).name, pattern) for pattern in SOURCE_PATTERNS):
            raise EdgekitError(f"source file {f} is not C or assembly", fix=f"give {', '.join(SOURCE_PATTERNS)} files")
    rel_includes = [_existing(project_dir, d, "include directory", Path.is_dir) for d in include_dirs]
    rel_ldscript = _existing(project_dir, ldscript, "linker script", Path.is_file)

    boards_dir = templates_dir() / PLATFORM_PACKAGE / "boards"
    board_id = env_name if (boards_dir / f"{env_name}.json").is_file() else GENERIC_BOARD

    # Render first: a bad argument leaves the project untouched.
    text = render_platformio_ini(env_name=env_name, board_id=board_id, cpu_flags=[str(f) for f in cpu_flags],
                                 defines=defines, include_dirs=rel_includes, source_dirs=rel_sources,
                                 ldscript=rel_ldscript, extra_c_flags=[str(f) for f in extra_c_flags],
                                 source_files=rel_files)
    install_local_packages(project_dir)
    ini = project_dir / "platformio.ini"
    _write_text_atomic(ini, text)
    return ini


# --- running pio ------------------------------------------------------------------------------------------

def offline_environment(project_dir: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment `pio run` gets: the caller's, minus any PLATFORMIO_* setting that could change the
    build or reach the network, plus the project core dir, no telemetry/upgrade checks and a dead proxy."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if not k.upper().startswith("PLATFORMIO_") and k.lower() not in
           ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env.update({
        "PLATFORMIO_CORE_DIR": str(project_dir / CORE_DIR),
        "PLATFORMIO_SETTING_ENABLE_TELEMETRY": "No",
        "PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL": "36500",   # days; the check is also disabled below
        "PLATFORMIO_DISABLE_UPGRADE_CHECK": "true",
        "PLATFORMIO_SETTING_ENABLE_CACHE": "No",
        "PLATFORMIO_DISABLE_PROGRESSBAR": "true",
        "PLATFORMIO_NO_ANSI": "true",
        "PYTHONUNBUFFERED": "1",
    })
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        env[name] = env[name.upper()] = CLOSED_PROXY
    return env


def _run_streaming(cmd: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout_s: float,
                   echo: bool) -> tuple[int | None, list[str]]:
    """Run cmd, collecting (and optionally echoing) its merged output; returncode None on timeout."""
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True)
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        try:
            os.killpg(proc.pid, 9)      # pio, SCons and the compilers it started
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout_s, kill)
    timer.start()
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if echo:
                sys.stdout.write(line)
                sys.stdout.flush()
        proc.wait()
    finally:
        timer.cancel()
    return (None if timed_out.is_set() else proc.returncode), lines


def build_with_platformio(project_dir: str | os.PathLike, env_name: str, *, verbose: bool = False,
                          timeout_s: float = DEFAULT_TIMEOUT_S, jobs: int = DEFAULT_JOBS,
                          run_prefix: Sequence[str] = ()) -> Path:
    """Run `pio run -e env_name` in the project, offline; return the firmware ELF's path.

    verbose: pass -v to pio and echo its output as it comes.
    run_prefix: a command to run pio under, e.g. ("unshare", "-n") to prove the build needs no network.
    The whole output is kept in .pio/edgekit-pio-<env>.log; errors quote its tail.
    """
    project_dir = Path(project_dir).resolve()
    if not _ENV_NAME.match(env_name):
        raise EdgekitError(f"PlatformIO environment name {env_name!r} is not usable",
                           fix="use the env name of the generated platformio.ini (the board's name)")
    if not (project_dir / "platformio.ini").is_file():
        raise EdgekitError("no platformio.ini here", path=project_dir,
                           fix="generate the project with `edgekit gen` first")
    if not platformio_available():
        raise EdgekitError(f"PlatformIO is not installed in {sys.executable}", fix=MISSING_PLATFORMIO_FIX)
    # Machine- and PlatformIO-specific packages are refreshed; the platform copy is kept as generated.
    install_local_packages(project_dir, replace_platform=False)

    cmd = [*run_prefix, sys.executable, "-m", "platformio", "run", "-d", str(project_dir), "-e", env_name,
           "-j", str(max(1, int(jobs)))]
    if verbose:
        cmd.append("-v")
    try:
        returncode, lines = _run_streaming(cmd, cwd=project_dir, env=offline_environment(project_dir),
                                           timeout_s=timeout_s, echo=verbose)
    except OSError as exc:
        raise EdgekitError(f"cannot start {cmd[0]} ({exc})", fix=MISSING_PLATFORMIO_FIX) from exc

    log_path = project_dir / ".pio" / f"edgekit-pio-{env_name}.log"
    _write_text_atomic(log_path, "\n".join(lines) + "\n")
    tail = "\n".join(collections.deque(lines, maxlen=ERROR_TAIL_LINES))
    if returncode is None:
        raise EdgekitError(f"`pio run -e {env_name}` did not finish within {timeout_s:g} s; last output:\n{tail}",
                           path=project_dir, fix=f"see {log_path}; pass a longer timeout_s if the build is big")
    if returncode != 0:
        raise EdgekitError(f"`pio run -e {env_name}` failed (exit status {returncode}); last output:\n{tail}",
                           path=project_dir, fix=f"the full log is {log_path}")
    elf = firmware_elf_path(project_dir, env_name)
    if not elf.is_file():
        raise EdgekitError(f"`pio run -e {env_name}` succeeded but left no {elf.name}; last output:\n{tail}",
                           path=project_dir, fix=f"see {log_path}")
    return elf
