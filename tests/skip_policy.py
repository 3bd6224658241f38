"""Skips cannot hide in CI: with EDGEKIT_REQUIRE_ALL=1 (set by `make test`, so by .ci/run) every skipped test or
module fails the run, unless ALLOWED_SKIPS names that test with that exact reason.

The hooks look at the reports pytest makes, so a skip counts however it was raised: `pytest.skip()` in a test,
fixture or helper, a `skipif`/`skip` mark, `pytest.importorskip` in a test or at module level. Expected failures
(xfail) are not skips and are left alone. tests/conftest.py registers these hooks; a plain pytest run can load
them with `-p skip_policy` (tests/ on sys.path).
"""
from __future__ import annotations

import os

import pytest

REQUIRE_ALL_ENV = "EDGEKIT_REQUIRE_ALL"

# node id (parameters stripped) -> the one skip reason allowed there. README.md ("What is checked") repeats why.
ALLOWED_SKIPS = {
    # A mode-0 file is still readable by root, and CI runs as root: the error path cannot be reached there.
    "tests/test_power_os.py::test_permission_denied_is_a_clear_error": "root reads every file",
    # Only on a Mac: a native macOS build needs no SDK path, so there is no error to check.
    "tests/test_boards.py::test_apple_toolchain_without_sdk_names_the_fix": "native macOS builds need no SDK path",
    # llama-cpp-python has no wheel on PyPI: installing it compiles llama.cpp (25-45 minutes on CI's 2 cores).
    "tests/test_gguf_export.py::test_llama_cpp_runs_the_export_like_edgekit_without_the_ffn":
        "llama-cpp-python (the peers extra) is not installed",
    # bitnet.cpp has no package: these run its own binaries when EDGEKIT_BITNET_CPP names a build of them.
    "tests/test_gguf_export.py::test_bitnet_cpp_generates_edgekit_s_tokens_from_the_i2_s_export":
        "EDGEKIT_BITNET_CPP is not set (a bitnet.cpp build's bin folder, docs/benchmarks.md)",
    "tests/test_bench_peers.py::test_bitnet_cpp_llama_bench_in_the_peers_suite":
        "EDGEKIT_BITNET_CPP is not set (a bitnet.cpp build's bin folder, docs/benchmarks.md)",
}


def require_all() -> bool:
    return os.environ.get(REQUIRE_ALL_ENV, "") not in ("", "0")


def _reason(longrepr) -> str:
    # A skip's longrepr is (path, line, "Skipped: reason"); anything else is shown as it is.
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _where(longrepr) -> str:
    return f" ({longrepr[0]}:{longrepr[1]})" if isinstance(longrepr, tuple) and len(longrepr) == 3 else ""


def skip_is_allowed(nodeid: str, reason: str) -> bool:
    return ALLOWED_SKIPS.get(nodeid.split("[", 1)[0]) == reason


def _fail_message(nodeid: str, longrepr) -> str:
    return (f"skipped under {REQUIRE_ALL_ENV}=1: {_reason(longrepr)}{_where(longrepr)}\n"
            f"{nodeid} is not an allowed skip (tests/skip_policy.py ALLOWED_SKIPS): install what it needs "
            f"(`make deps`, `make venv`) or, if it can never run here, allow it there and say why in README.md")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if (require_all() and report.skipped and not hasattr(report, "wasxfail")
            and not skip_is_allowed(report.nodeid, _reason(report.longrepr))):
        report.longrepr = _fail_message(report.nodeid, report.longrepr)
        report.outcome = "failed"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield
    if require_all() and report.skipped and not skip_is_allowed(report.nodeid, _reason(report.longrepr)):
        report.longrepr = _fail_message(report.nodeid, report.longrepr)
        report.outcome = "failed"
    return report
