"""The bundled model's training text: the King James Version of the Bible, from Debian's `bible-kjv`.

Why this text: it is public domain (the 1611 translation's copyright has long expired; see the model
card for the one caveat, the Crown's letters patent in the United Kingdom), it is large enough for a
~6 M-parameter model (~4.3 MB, ~790 k words), and it ships as a Debian package, so a fresh machine can
rebuild the model without reaching anything but the Debian archive.

Debian stores the text compressed in /usr/lib/bible.data (package `bible-kjv-text`); the `bible`
program (package `bible-kjv`) is the only reader of that format, so we run it rather than re-implement
its decompressor. Its output, with an unlimited line width, is one chapter heading line ("Genesis 1")
followed by one line per verse ("  1 In the beginning ..."), chapters separated by blank lines.

A chapter becomes one training document: the heading, then each verse on its own line without its
verse number (numbers would cost tokens and teach the small model nothing about English).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

APT_PACKAGES = ("bible-kjv", "bible-kjv-text")  # the reader program and the compressed text
WHOLE_BIBLE = "gen1:1-rev22:21"
EXPECTED_CHAPTERS = 1189  # chapters in the 66 books of the KJV; a short read means a broken install
EXPECTED_VERSES = 31102

_VERSE_LINE = re.compile(r"^\s+(\d+) (.*)$")


class CorpusError(RuntimeError):
    """The corpus cannot be prepared; the message says which package to install."""


@dataclass(frozen=True)
class Chapter:
    book: str  # e.g. "Genesis", "1 Kings"
    number: int
    verses: tuple[str, ...]

    def document(self) -> str:
        """The chapter as one training document (no BOS/EOS; the tokenizer stage adds those)."""
        return f"{self.book} {self.number}\n" + "\n".join(self.verses) + "\n"


def _bible_program(install: bool) -> str:
    """Path of the `bible` program, installing the Debian packages first if allowed and needed."""
    path = shutil.which("bible")
    if path and os.path.exists("/usr/lib/bible.data"):
        return path
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"corpus: installing Debian packages {' '.join(APT_PACKAGES)} (the KJV text and its reader)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "--no-install-recommends", *APT_PACKAGES]
        if subprocess.run(cmd, env=env).returncode != 0:
            # A fresh machine may have no package lists yet; refresh once and retry.
            subprocess.run(["apt-get", "update"], env=env, check=False)
            subprocess.run(cmd, env=env, check=False)
        path = shutil.which("bible")
        if path and os.path.exists("/usr/lib/bible.data"):
            return path
    raise CorpusError(
        "the KJV corpus needs the Debian packages bible-kjv and bible-kjv-text "
        "(the `bible` program and /usr/lib/bible.data); install them with: "
        "sudo apt-get install bible-kjv bible-kjv-text")


def read_kjv(install: bool = True) -> list[Chapter]:
    """All 1,189 chapters of the KJV in canonical order (Genesis 1 .. Revelation 22)."""
    program = _bible_program(install)
    # -l with a huge width: one verse per line, no re-wrapping. HOME is set because `bible` keeps a
    # history file there; a CI environment may not have one.
    result = subprocess.run([program, "-l1000000", WHOLE_BIBLE], capture_output=True, text=True,
                            env=dict(os.environ, HOME=os.environ.get("HOME", "/tmp")), check=False)
    if result.returncode != 0:
        raise CorpusError(f"`bible {WHOLE_BIBLE}` failed ({result.stderr.strip()!r}); "
                          "reinstall with: sudo apt-get install --reinstall bible-kjv bible-kjv-text")
    chapters: list[Chapter] = []
    book, number, verses = None, 0, []
    for line in result.stdout.splitlines():
        if not line.strip():
            continue
        verse = _VERSE_LINE.match(line)
        if verse:
            if book is None:
                raise CorpusError(f"verse before any chapter heading in `bible` output: {line[:60]!r}")
            verses.append(verse.group(2).strip())
            continue
        heading = line.strip().rsplit(" ", 1)
        if len(heading) != 2 or not heading[1].isdigit():
            raise CorpusError(f"unexpected line in `bible` output: {line[:60]!r}")
        if book is not None:
            chapters.append(Chapter(book, number, tuple(verses)))
        book, number, verses = heading[0], int(heading[1]), []
    if book is not None:
        chapters.append(Chapter(book, number, tuple(verses)))
    n_verses = sum(len(c.verses) for c in chapters)
    if len(chapters) != EXPECTED_CHAPTERS or n_verses != EXPECTED_VERSES:
        raise CorpusError(f"read {len(chapters)} chapters / {n_verses} verses from `bible`, expected "
                          f"{EXPECTED_CHAPTERS} / {EXPECTED_VERSES}; the installed text is incomplete "
                          "(sudo apt-get install --reinstall bible-kjv-text)")
    return chapters


def split_held_out(chapters: list[Chapter], held_out_fraction: float) -> tuple[list[Chapter], list[Chapter]]:
    """(train, held_out): the last whole chapters holding about `held_out_fraction` of the characters.

    A tail split, not a random one, so no held-out verse has a neighbour verse in training.
    """
    sizes = [len(c.document()) for c in chapters]
    budget = held_out_fraction * sum(sizes)
    cut, tail = len(chapters), 0
    while cut > 0 and tail + sizes[cut - 1] <= budget:
        cut -= 1
        tail += sizes[cut]
    return chapters[:cut], chapters[cut:]
