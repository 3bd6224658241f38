"""`edgekit cache list|prune`: only folders edgekit marked are listed or removed; links are never followed."""
import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgekit import __version__
from edgekit.cache import MARKER, write_marker
from edgekit.cli import cli

DAY = 86400


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def make_entry(builds: Path, board: str, key: str, *, age_days: float, payload: int = 1000) -> Path:
    path = builds / f"{board}-{key}"
    (path / "build").mkdir(parents=True)
    (path / "build" / "firmware.bin").write_bytes(b"\x01" * payload)
    write_marker(path, board=board, key=key, model="kjv-bitnet-5m", version=__version__)
    when = time.time() - age_days * DAY
    os.utime(path / MARKER, (when, when))
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    builds = root / "builds"
    builds.mkdir(parents=True)
    monkeypatch.setenv("EDGEKIT_CACHE", str(root))
    outside = tmp_path / "outside"
    (outside / "keep-me").mkdir(parents=True)
    (outside / "keep-me" / "precious.txt").write_text("not the cache's")
    old = make_entry(builds, "qemu-mps3-an547", "0123456789abcdef", age_days=40, payload=3000)
    new = make_entry(builds, "host", "fedcba9876543210", age_days=0.01)
    # a link inside an entry points out of the cache: counted as a link, removed as a link
    (old / "escape").symlink_to(outside / "keep-me")
    # not ours: a folder with the right name but no marker, a link that looks like an entry, a copied marker
    unmarked = builds / "host-00000000deadbeef"
    unmarked.mkdir()
    (unmarked / "user-file.txt").write_text("mine")
    linked_target = outside / "looks-like-an-entry"
    linked_target.mkdir()
    write_marker(linked_target, board="host", key="1111111111111111", model="m", version=__version__)
    (builds / "host-1111111111111111").symlink_to(linked_target)
    copied = builds / "host-2222222222222222"
    copied.mkdir()
    (copied / MARKER).write_text(json.dumps({"board": "host", "key": "3333333333333333"}))
    return {"builds": builds, "old": old, "new": new, "unmarked": unmarked, "outside": outside,
            "linked_target": linked_target, "copied": copied}


def test_list_shows_only_marked_entries_most_recent_first(cache):
    res = invoke("cache", "list", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [(e["board"], e["key"]) for e in data["entries"]] == [("host", "fedcba9876543210"),
                                                                  ("qemu-mps3-an547", "0123456789abcdef")]
    old = data["entries"][1]
    link_size = os.lstat(cache["old"] / "escape").st_size
    assert old["size_bytes"] == 3000 + (cache["old"] / MARKER).stat().st_size + link_size  # the link, not its target
    assert time.time() - old["last_used"] > 39 * DAY
    table = invoke("cache", "list")
    assert "0123456789abcdef" in table.stdout and "2 entries" in table.stdout


def test_prune_older_than_dry_run_then_for_real(cache):
    dry = invoke("cache", "prune", "--older-than", "30", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert [e["key"] for e in json.loads(dry.stdout)["removed"]] == ["0123456789abcdef"]
    assert cache["old"].is_dir()  # a dry run removes nothing
    real = invoke("cache", "prune", "--older-than", "30")
    assert real.exit_code == 0, real.output
    assert not cache["old"].exists() and cache["new"].is_dir()
    assert (cache["outside"] / "keep-me" / "precious.txt").read_text() == "not the cache's"  # link not followed
    assert sorted(p.name for p in cache["builds"].iterdir()) == sorted(
        ["host-fedcba9876543210", "host-00000000deadbeef", "host-1111111111111111", "host-2222222222222222"])


def test_prune_all_leaves_what_edgekit_did_not_make(cache):
    res = invoke("cache", "prune", "--all")
    assert res.exit_code == 0, res.output
    assert not cache["old"].exists() and not cache["new"].exists()
    assert (cache["unmarked"] / "user-file.txt").read_text() == "mine"
    assert (cache["builds"] / "host-1111111111111111").is_symlink() and (cache["linked_target"] / MARKER).is_file()
    assert cache["copied"].is_dir()
    assert not [p for p in cache["builds"].iterdir() if p.name.startswith(".prune")]  # no trash left behind


def test_prune_removes_interrupted_generate_staging_folders(cache):
    leftover = cache["builds"] / ".host-4444444444444444.abc123.tmp"
    (leftover / "part").mkdir(parents=True)
    data = json.loads(invoke("cache", "list", "--json").stdout)
    assert any(e["leftover"] and e["key"] == "4444444444444444" for e in data["entries"])
    assert invoke("cache", "prune", "--all").exit_code == 0
    assert not leftover.exists()


def test_prune_needs_a_choice_and_refuses_negative_days(cache):
    for args in ((), ("--all", "--older-than", "3")):
        res = invoke("cache", "prune", *args)
        assert res.exit_code == 2 and res.stderr.startswith("edgekit: error:") and "--older-than" in res.stderr
    res = invoke("cache", "prune", "--older-than", "-1")
    assert res.exit_code == 2 and "negative" in res.stderr
    assert cache["old"].is_dir()


def test_empty_or_missing_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "nothing-here"))
    assert "no cached builds" in invoke("cache", "list").stdout
    res = invoke("cache", "prune", "--all", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["removed"] == []


def test_ensure_built_marks_its_entry_and_reports_its_steps(tmp_path, monkeypatch):
    """A real --board build: the cache entry it makes is listed, and a second run (a cache hit) updates its
    last-used time without building."""
    import edgekit
    from edgekit.link.run import ensure_built
    from edgekit.models import DEFAULT_MODEL

    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cache"))
    model = edgekit.load(DEFAULT_MODEL)
    steps: list[str] = []
    project = ensure_built(model, "host", progress=steps.append)
    assert steps[0].startswith("checking the build cache") and any(s.startswith("generating") for s in steps)
    assert any(s.startswith("building host firmware") for s in steps)
    marker = json.loads((project / MARKER).read_text())
    assert marker["board"] == "host" and project.name == f"host-{marker['key']}"
    old = time.time() - 5 * DAY
    os.utime(project / MARKER, (old, old))
    steps.clear()
    assert ensure_built(model, "host", progress=steps.append) == project
    assert steps == ["checking the build cache for host"]  # nothing built the second time
    entries = json.loads(invoke("cache", "list", "--json").stdout)["entries"]
    assert [e["key"] for e in entries] == [marker["key"]] and time.time() - entries[0]["last_used"] < DAY
