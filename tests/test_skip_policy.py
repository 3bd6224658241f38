"""tests/skip_policy.py: under EDGEKIT_REQUIRE_ALL=1 a skip fails the run, however it was raised, unless the
allowlist names that test with that reason. Checked by running pytest on small test files in a temporary tree."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from skip_policy import ALLOWED_SKIPS, REQUIRE_ALL_ENV

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

SKIPPING_TESTS = '''
import pytest

@pytest.fixture
def needs_a_board():
    pytest.skip("no board attached")

def test_skip_in_body():
    pytest.skip("tool missing")

@pytest.mark.skipif(True, reason="no AVX2")
def test_skipif_mark():
    pass

def test_skip_in_fixture(needs_a_board):
    pass

def test_importorskip_in_body():
    pytest.importorskip("no_such_module_for_edgekit_tests")

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    assert False

def test_passes():
    pass
'''

MODULE_LEVEL_IMPORTORSKIP = '''
import pytest
pytest.importorskip("no_such_module_for_edgekit_tests")

def test_never_collected():
    pass
'''


def _run(tree: Path, require_all: bool) -> tuple[int, dict[str, str]]:
    """pytest on tree/tests with the policy loaded -> (exit code, {test name: outcome})."""
    env = {k: v for k, v in os.environ.items() if k != REQUIRE_ALL_ENV}
    if require_all:
        env[REQUIRE_ALL_ENV] = "1"
    env["PYTHONPATH"] = str(TESTS)
    junit = tree / "junit.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "skip_policy", "-p", "no:cacheprovider", "-q",
                           f"--junitxml={junit}", "tests"], cwd=tree, env=env, capture_output=True, text=True)
    outcomes: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("skipped", "failure", "error")]
        name = case.get("name") or case.get("classname")
        outcomes[name] = kinds[0] if kinds else "passed"
    return proc.returncode, outcomes


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # rootdir = tmp_path, so node ids are tests/...
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


@pytest.mark.parametrize("require_all, code, expected", [
    (False, 0, {"test_skip_in_body": "skipped", "test_skipif_mark": "skipped", "test_skip_in_fixture": "skipped",
                "test_importorskip_in_body": "skipped", "test_expected_failure": "skipped", "test_passes": "passed"}),
    # with the switch every skip fails, however it was raised: skips raised during setup (marks, fixtures) are
    # reported as errors, those in the body as failures
    (True, 1, {"test_skip_in_body": "failure", "test_skipif_mark": "error", "test_skip_in_fixture": "error",
               "test_importorskip_in_body": "failure", "test_expected_failure": "skipped", "test_passes": "passed"}),
], ids=["without the switch skips stay skips", "with the switch every skip fails"])
def test_skips_with_and_without_the_switch(tmp_path, require_all, code, expected):
    tree = _tree(tmp_path, {"tests/test_sample.py": SKIPPING_TESTS})
    assert _run(tree, require_all=require_all) == (code, expected)


def test_with_the_switch_a_module_level_importorskip_fails_collection(tmp_path):
    tree = _tree(tmp_path, {"tests/test_sample.py": MODULE_LEVEL_IMPORTORSKIP,
                            "tests/test_other.py": "def test_runs():\n    pass\n"})
    assert _run(tree, require_all=False) == (0, {"tests.test_sample": "skipped", "test_runs": "passed"})
    code, outcomes = _run(tree, require_all=True)
    assert code != 0 and outcomes["tests.test_sample"] == "error"


def test_an_allowed_skip_passes_only_with_its_own_reason(tmp_path):
    nodeid, reason = next(iter(ALLOWED_SKIPS.items()))
    path, name = nodeid.split("::")
    tree = _tree(tmp_path, {path: f'''
        import pytest

        def {name}():
            pytest.skip({reason!r})
        '''})
    assert _run(tree, require_all=True) == (0, {name: "skipped"})
    (tree / path).write_text(f"import pytest\n\ndef {name}():\n    pytest.skip('a different reason')\n")
    assert _run(tree, require_all=True) == (1, {name: "failure"})


def test_make_test_sets_the_switch_and_the_readme_names_every_allowed_skip():
    recipe = (ROOT / "Makefile").read_text().split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert f"{REQUIRE_ALL_ENV}=1 $(PY) -m pytest" in recipe
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    for nodeid, reason in ALLOWED_SKIPS.items():
        assert nodeid.split("::")[1] in readme and reason in readme, nodeid


@pytest.mark.parametrize("nodeid", sorted(ALLOWED_SKIPS))
def test_every_allowed_skip_names_an_existing_test(nodeid):
    path, name = nodeid.split("::")
    assert f"def {name}(" in (ROOT / path).read_text()
