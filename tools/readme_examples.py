"""README.md's example blocks, regenerated from real runs of the commands they show.

    .venv/bin/python tools/readme_examples.py --run    # run every example, store its output, rewrite README.md
    .venv/bin/python tools/readme_examples.py          # rewrite README.md's blocks from the stored outputs
    .venv/bin/python tools/readme_examples.py --check  # exit 1 when README.md differs from the stored outputs

Each block sits between `<!-- example:NAME -->` and `<!-- /example:NAME -->` in README.md. The outputs (stdout of
each command, and the files a command writes that the checks read, such as profile/summary.json) are stored in
docs/readme_examples.json, so tests/test_readme_examples.py can check the README against them without running
QEMU. The commands run exactly as shown, in a scratch directory, with this checkout's `edgekit` and Python.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
STORE = ROOT / "docs" / "readme_examples.json"
READY_TIMEOUT_S = 30.0  # a background helper (the fake PPK2) must have its port and socket up within this
RUN_TIMEOUT_S = 1800.0  # the first --board run builds firmware


@dataclass(frozen=True)
class Example:
    commands: tuple[tuple[str, ...], ...]  # run in order; stdout of each is shown under it
    background: tuple[str, ...] | None = None  # started first (shown with a trailing &), stopped at the end
    ready_paths: tuple[str, ...] = ()  # the background helper is ready once these exist
    files: tuple[str, ...] = ()  # files the commands write that are stored with the output


# One source of truth for what the README shows: the commands here are what runs and what is printed.
EXAMPLES = {
    "generate": Example(commands=(("edgekit", "generate", "--prompt", "And God said,", "--max-new", "40",
                                   "--temperature", "0"),)),
    "profile-energy": Example(
        background=("python", "tools/fake_ppk2.py", "--logic-socket", "/tmp/ppk2-logic.sock", "--symlink",
                    "/tmp/ttyPPK2"),
        ready_paths=("/tmp/ppk2-logic.sock", "/tmp/ttyPPK2"),
        commands=(("edgekit", "profile", "--board", "qemu-mps3-an547", "--tokens", "12", "--meter",
                   "ppk2:/tmp/ttyPPK2", "--marker", "unix:/tmp/ppk2-logic.sock"),),
        files=("profile/summary.json",)),
}


def _executable(argv: tuple[str, ...]) -> list[str]:
    """What runs for a shown command: this checkout's edgekit and Python, tools/ from the repository."""
    head, rest = argv[0], list(argv[1:])
    if head == "edgekit":
        return [str(Path(sys.executable).parent / "edgekit"), *rest]
    if head == "python":
        return [sys.executable, *[str(ROOT / a) if a.startswith("tools/") else a for a in rest]]
    return list(argv)


def run_example(example: Example) -> dict:
    """Run one example in a scratch directory; its stdout per command and the files it keeps."""
    env = {**os.environ, "COLUMNS": "200"}
    with tempfile.TemporaryDirectory(prefix="edgekit-readme-") as scratch:
        helper = None
        if example.background:
            for p in example.ready_paths:
                Path(p).unlink(missing_ok=True)
            helper = subprocess.Popen(_executable(example.background), cwd=scratch, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not all(Path(p).exists() for p in example.ready_paths):
                if helper.poll() is not None or time.monotonic() > deadline:
                    helper.kill()
                    raise SystemExit(f"{shlex.join(example.background)} did not come up: {helper.stderr.read()}")
                time.sleep(0.05)
        try:
            outputs = []
            for argv in example.commands:
                r = subprocess.run(_executable(argv), cwd=scratch, env=env, capture_output=True, text=True,
                                   timeout=RUN_TIMEOUT_S)
                if r.returncode != 0:
                    raise SystemExit(f"{shlex.join(argv)} failed ({r.returncode}):\n{r.stderr}")
                outputs.append(r.stdout)
            files = {f: (Path(scratch) / f).read_text() for f in example.files}
        finally:
            if helper is not None:
                helper.terminate()
                helper.wait(10)
    return {"commands": [list(c) for c in example.commands],
            "background": list(example.background) if example.background else None,
            "stdout": outputs, "files": files}


def format_block(stored: dict) -> str:
    """The README text of one example (without its markers): the commands as typed, each with its output."""
    lines = ["```"]
    if stored.get("background"):
        lines.append(f"$ {shlex.join(stored['background'])} &")
    for argv, out in zip(stored["commands"], stored["stdout"]):
        lines.append(f"$ {shlex.join(argv)}")
        lines.extend(out.rstrip("\n").splitlines())
    lines.append("```")
    return "\n".join(lines)


def markers(name: str) -> tuple[str, str]:
    return f"<!-- example:{name} -->", f"<!-- /example:{name} -->"


def readme_block(text: str, name: str) -> str:
    """The text between an example's markers in README text (stripped of the newlines around it)."""
    start, end = markers(name)
    if text.count(start) != 1 or text.count(end) != 1:
        raise SystemExit(f"README.md must hold exactly one {start} ... {end} pair")
    return text[text.index(start) + len(start):text.index(end)].strip("\n")


def rewrite(text: str, stored: dict[str, dict]) -> str:
    for name, entry in stored.items():
        start, end = markers(name)
        old = readme_block(text, name)
        text = text.replace(f"{start}\n{old}\n{end}", f"{start}\n{format_block(entry)}\n{end}")
    return text


def load_store() -> dict[str, dict]:
    return json.loads(STORE.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="store_true", help="run the examples first and store their outputs")
    parser.add_argument("--only", action="append", choices=sorted(EXAMPLES), help="with --run: just these")
    parser.add_argument("--check", action="store_true", help="exit 1 when README.md is not what the outputs give")
    args = parser.parse_args(argv)
    stored = load_store() if STORE.exists() else {}
    if args.run:
        for name in args.only or EXAMPLES:
            print(f"running {name}...", file=sys.stderr)
            stored[name] = run_example(EXAMPLES[name])
        tmp = STORE.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(stored, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(STORE)
    text = README.read_text(encoding="utf-8")
    new = rewrite(text, stored)
    if args.check:
        if new != text:
            print("README.md's example blocks differ from docs/readme_examples.json (fix: "
                  "tools/readme_examples.py)", file=sys.stderr)
            return 1
        return 0
    if new != text:
        tmp = README.with_suffix(".md.tmp")
        tmp.write_text(new, encoding="utf-8")
        tmp.replace(README)
    return 0


if __name__ == "__main__":
    sys.exit(main())
