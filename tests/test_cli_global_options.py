"""Global -q/-v on the `edgekit` group, and the environment-variable table shown by --help and the README."""
import ast
import re
from pathlib import Path

from click.testing import CliRunner

from edgekit.cli import cli
from edgekit.settings import ENVIRONMENT

ROOT = Path(__file__).resolve().parents[1]


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def test_quiet_silences_informational_lines_but_not_results():
    args = ("generate", "--prompt", "In the", "--max-new", "3", "--seed", "1")
    loud = invoke(*args)
    assert loud.exit_code == 0, loud.output
    assert re.search(r"3 tokens in .* s", loud.stderr)
    quiet = invoke("-q", *args)
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""
    assert quiet.stdout == loud.stdout and quiet.stdout.startswith("In the")  # the result itself stays


def test_quiet_still_prints_errors(tmp_path):
    res = invoke("-q", "generate", tmp_path / "no-such-model", "--prompt", "x")
    assert res.exit_code == 2
    assert res.stderr.startswith("edgekit: error:")


def test_verbose_echoes_commands_run_and_timings():
    res = invoke("-v", "doctor", "--no-self-test", "-b", "qemu-mps3-an547")
    assert res.exit_code in (0, 1), res.output
    started = [ln for ln in res.stderr.splitlines() if ln.startswith("$ ")]
    assert any(re.search(r"cmake --version$", ln) for ln in started), res.stderr
    assert re.search(r"^doctor: \d+\.\d s$", res.stderr, re.M), res.stderr
    plain = invoke("doctor", "--no-self-test", "-b", "qemu-mps3-an547")
    assert not [ln for ln in plain.stderr.splitlines() if ln.startswith("$ ")]


def test_first_board_run_shows_its_steps_verbose_times_them_quiet_hides_them(tmp_path):
    """The first --board run builds firmware into the cache: -v names each step with its time and echoes the
    commands (CMake, the device process); -q on the next run prints nothing on stderr, only the results."""
    env = {"EDGEKIT_CACHE": str(tmp_path / "cache")}
    args = ("profile", "--board", "host", "--tokens", "2")
    first = invoke("-v", *args, "-o", tmp_path / "p1", env=env)
    assert first.exit_code == 0, first.output
    err = first.stderr
    assert re.search(r"^\$ \S*cmake --build ", err, re.M), err
    assert re.search(r"^\$ \S*/edgekit-device --pty ", err, re.M), err
    for step in ("loading the model", "generating the host project", "building host firmware",
                 "handshake with", "generating 2 tokens"):
        assert re.search(rf"^{step}.*: \d+\.\d s$", err, re.M), (step, err)
    assert "tokens" in first.stdout
    again = invoke("-q", *args, "-o", tmp_path / "p2", env=env)
    assert again.exit_code == 0, again.output
    assert again.stderr == "" and "tokens" in again.stdout


def test_verbose_and_quiet_together_are_refused():
    res = invoke("-v", "-q", "models")
    assert res.exit_code == 2 and "contradict" in res.output


def _env_names_read_by_the_code() -> set[str]:
    """EDGEKIT_* names as string literals in edgekit/*.py, and as $ENV{...} in the firmware's CMake files."""
    names: set[str] = set()
    for path in (ROOT / "edgekit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.update(re.findall(r"(?<![A-Z0-9_])EDGEKIT_[A-Z0-9_]+", node.value))
    for path in (ROOT / "firmware").rglob("*"):
        if path.suffix in (".cmake", ".txt", ".c", ".h") and path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            names.update(re.findall(r"\$ENV\{(EDGEKIT_[A-Z0-9_]+)\}", text))
            names.update(re.findall(r"getenv\(\"(EDGEKIT_[A-Z0-9_]+)\"\)", text))
    return names


def test_every_environment_variable_the_code_reads_is_in_the_table():
    listed = {v.name for v in ENVIRONMENT}
    read = _env_names_read_by_the_code()
    assert {"EDGEKIT_CACHE", "EDGEKIT_BOARDS_DIR", "EDGEKIT_SSH_CONFIG", "EDGEKIT_MACOS_SDK"} <= read  # the scan works
    assert read - listed == set(), f"read by the code but missing from edgekit/settings.py: {read - listed}"
    assert listed - read == set(), f"listed in edgekit/settings.py but read nowhere: {listed - read}"


def test_help_and_readme_show_every_environment_variable():
    text = invoke("--help").output
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for v in ENVIRONMENT:
        assert re.search(rf"^\s+{v.name}\s+{re.escape(v.meaning[:30])}", text, re.M), v.name
        row = next((ln for ln in readme.splitlines() if ln.startswith(f"| `{v.name}` |")), None)
        assert row is not None, f"README.md does not document {v.name}"
        # the README says what the table says (backticks are the README's markup)
        assert row.replace("`", "").split(" | ")[1:] == [v.default.replace("`", ""), v.meaning.replace("`", "") + " |"], row


def test_verbosity_ends_with_the_command(capfd):
    """-v/-q last for one command: library code running afterwards in the same process prints as normal."""
    import subprocess

    from edgekit.cli.common import NORMAL, _state

    assert invoke("-v", "models").exit_code == 0
    assert _state["verbosity"] == NORMAL
    capfd.readouterr()
    subprocess.run(["true"], check=True)
    assert "$ true" not in capfd.readouterr().err
