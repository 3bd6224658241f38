"""Write a file so that readers see the old content or the new one, never half of either: temp file beside the
destination, then rename. Every small text output of edgekit (linker scripts, platformio.ini, transcripts, bench
results) goes through here; images stream through edgekit/pack/image.py, which does the same at scale."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
