"""The command lines of the host programs, edgekit-device (firmware/ports/posix) and ek_eval (firmware/tools), both
read by the one option table parser firmware/ports/posix/ek_options.h: every malformed argument is refused with
one line naming the option, and exit status 2."""
from __future__ import annotations

import subprocess

import pytest

from helpers import build_firmware, run_eval


def _device(binary, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, message", [
    (["--tcp", "70000", "m.ekm"], "edgekit-device: --tcp expects an integer in 0..65535, got '70000'"),
    (["--stdio", "--threads", "0", "m.ekm"], "edgekit-device: --threads expects an integer in 1.."),
    (["--stdio", "--clock-hz", "-5", "m.ekm"], "edgekit-device: --clock-hz expects an integer in 1..4294967295"),
    (["--stdio", "--ctx", "12abc", "m.ekm"], "edgekit-device: --ctx expects an integer in 1..2147483647"),
    (["--stdio", "--ctx"], "edgekit-device: --ctx needs a value"),
    (["--stdio", "--frobnicate", "m.ekm"], "edgekit-device: unknown option: --frobnicate"),
])
def test_device_refuses_bad_arguments(device_binary, args, message):
    r = _device(device_binary, *args)
    assert r.returncode == 2 and r.stderr.startswith(message) and "usage: edgekit-device" in r.stderr


def test_device_version_and_help(device_binary):
    version = _device(device_binary, "--version")
    assert version.returncode == 0 and version.stdout.startswith("edgekit-device ")
    for flag in ("--help", "-h"):
        r = _device(device_binary, flag)
        assert r.returncode == 0 and r.stdout.startswith("usage: edgekit-device")


def test_device_value_options_reach_the_device(device_binary, tmp_path):
    """Options and images mix in any order; a value that parses is used (here the image path is reached)."""
    r = _device(device_binary, "--tcp", "0", "--board", "b", str(tmp_path / "missing.ekm"), "--threads", "2")
    assert r.returncode == 2 and r.stderr == f"edgekit-device: cannot open image {tmp_path / 'missing.ekm'}: " \
                                             "No such file or directory\n"


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return build_firmware(tmp_path_factory)


@pytest.mark.parametrize("args, message", [
    (["--top-k", "x", "m.ekm"], "error: --top-k expects an integer in 0..4294967295, got 'x'"),
    (["--seed", "-1", "m.ekm"], "error: --seed: bad value '-1'"),
    (["--temperature", "warm", "m.ekm"], "error: --temperature: bad value 'warm'"),
    (["--tokens", "1,x", "m.ekm"], "error: --tokens: bad value '1,x'"),
    (["--tokens-file", "/nonexistent/tokens", "m.ekm"], "error: --tokens-file: bad value '/nonexistent/tokens'"),
    (["--logits"], "error: --logits needs a value"),
    (["--bogus", "1", "m.ekm"], "error: unknown option: --bogus"),
])
def test_eval_refuses_bad_arguments(build, args, message):
    r = run_eval(build, "run", *args, check=False)
    assert r.returncode == 2 and r.stderr.strip() == message


def test_eval_options_end_at_the_first_image(build):
    """Everything after the first part is a part (ek_eval run OPTIONS PART...)."""
    r = run_eval(build, "run", "--tokens", "1", "/nonexistent/a.ekm", "--ctx", "4", check=False)
    assert r.returncode == 2 and "/nonexistent/a.ekm" in r.stderr
