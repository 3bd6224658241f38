"""One-step device paths: build (cached by model + board), flash/start, connect, generate.

    with connect_device(model, board="qemu-mps3-an547") as dev:   # or port="/dev/ttyACM0"
        for event in dev.client.generate(ids, max_new_tokens=32):
            ...

A Linux board reached over ssh takes the profile's host, or host="pi@192.168.1.20" (`--host` on the CLI).

Builds are cached under $EDGEKIT_CACHE (default ~/.cache/edgekit)/builds/<board>-<key>, where the key covers
the model's files, the board profile, the firmware sources and the edgekit version, so a changed input builds
again and an unchanged one starts at once (edgekit/cache.py lists and prunes the entries: `edgekit cache`).

Long steps are reported through two optional callbacks: progress(step) names the step starting now (a CLI shows
it in a spinner; the first --board run spends a minute building), log(message) is a line worth keeping.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from edgekit import __version__
from edgekit.cache import MARKER, builds_dir, touch_marker, write_marker
from edgekit.errors import EdgekitError
from edgekit.model import Model

Progress = Callable[[str], None]


def tree_fingerprint(h, root: Path) -> None:
    """Feed every file under root (path, size, mtime) into the hash h: a change to any of them changes the key."""
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            st = p.stat()
            h.update(f"{p.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}\n".encode())


def build_key(model: Model, board, *, ctx: int | None, ternary: str | None, embedding: str | None) -> str:
    from edgekit.boards.linker import firmware_dir

    h = hashlib.sha256(f"edgekit {__version__}|{board.name}|{ctx}|{ternary}|{embedding}\n".encode())
    src = Path(model.source)
    if src.is_dir():
        tree_fingerprint(h, src)
    elif src.is_file():
        st = src.stat()
        h.update(f"{src.resolve()}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    if board.source:
        h.update(Path(board.source).read_bytes())
    tree_fingerprint(h, firmware_dir())
    return h.hexdigest()[:16]


def ensure_built(model: Model, board_name: str, *, ctx: int | None = None, ternary: str | None = None,
                 embedding: str | None = None, log=None, progress: Progress | None = None) -> Path:
    """The built project for (model, board), generating and building it only when the cache has none."""
    from edgekit.boards import load_board
    from edgekit.build import build_project
    from edgekit.build.project import firmware_binary
    from edgekit.gen.project import generate_project, read_manifest

    board = load_board(board_name)
    if progress:
        progress(f"checking the build cache for {board.name}")
    key = build_key(model, board, ctx=ctx, ternary=ternary, embedding=embedding)
    project = builds_dir() / f"{board.name}-{key}"
    if (project / "manifest.json").is_file():
        manifest = read_manifest(project)
        if firmware_binary(project, "cmake", manifest).is_file():
            if (project / MARKER).is_file():
                touch_marker(project)
            else:  # built before entries carried a marker: claim it now, so `edgekit cache` sees it
                try:
                    write_marker(project, board=board.name, key=key, model=str(model.source), version=__version__)
                except OSError:
                    pass  # a read-only cache still serves its builds; it is only not listed
            return project
    if progress:
        progress(f"generating the {board.name} project (plan, pack the model)")
    if log:
        log(f"building firmware for {board.name} in {project} (cached for next time)")
    generate_project(model, board, project, ctx=ctx, ternary=ternary, embedding=embedding)
    build_project(project, progress=(lambda step: progress(f"building {board.name} firmware: {step}")) if progress
                  else None)
    write_marker(project, board=board.name, key=key, model=str(model.source), version=__version__)
    return project


@dataclass
class ConnectedDevice:
    """A link client plus whatever was started to give it a device (emulator, process); close() stops both."""

    client: object  # edgekit.link.client.DeviceClient
    identity: object
    describe: str
    project: Path | None = None
    _session: object | None = field(default=None, repr=False)

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self._session is not None:
                self._session.close()

    def __enter__(self) -> "ConnectedDevice":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def connect_device(model: Model | None, *, board: str | None = None, port: str | None = None, trace: bool = False,
                   ctx: int | None = None, icount_shift: int | None = None, marker: str | None = None,
                   host: str | None = None, log=None, progress: Progress | None = None) -> ConnectedDevice:
    """Connect to --port, or build/flash/start the model on --board; HELLO and check the model matches.

    host: for a Linux board reached over ssh (flasher scp-ssh), [USER@]HOST[:PORT] instead of the profile's host.
    progress: called with the name of each step as it starts (build, flash/start, handshake).
    """
    from edgekit.link.client import DeviceClient

    if (board is None) == (port is None):
        raise EdgekitError("give exactly one of --board (build, flash and run) or --port (a running device)")
    if host is not None:
        if board is None:
            raise EdgekitError("--host goes with --board (a Linux board edgekit starts over ssh)",
                               fix="pass --board rpi5 (or your board) with --host, or drop --host")
        from edgekit.boards import load_board

        kind = load_board(board).flasher.kind
        if kind != "scp-ssh":
            raise EdgekitError(f"--host is for Linux boards reached over ssh, but {board} uses flasher {kind!r}",
                               fix="drop --host, or use a board whose [flasher] kind is scp-ssh (rpi5, rpi4...)")
    session = None
    project = None
    if board is not None:
        if model is None:
            raise EdgekitError("--board needs a model to build", fix="pass MODEL or use the bundled default")
        from edgekit.flash.device import open_device

        project = ensure_built(model, board, ctx=ctx, log=log, progress=progress)
        if progress:
            progress(f"starting {board} (flash / emulator / device process)")
        session = open_device(project, icount_shift=icount_shift, marker=marker, host=host)
        url, describe = session.url, session.describe
    else:
        url, describe = port, port
    if progress:
        progress(f"handshake with {describe}")
    try:
        client = DeviceClient(url, trace=trace)
        identity = client.hello()
    except BaseException:
        if session is not None:
            session.close()
        raise
    dev = ConnectedDevice(client, identity, describe, project, session)
    if model is not None:
        try:
            check_device_model(identity, model, url, project)
        except EdgekitError:
            dev.close()
            raise
    return dev


def check_device_model(identity, model: Model, url: str, project: Path | None = None) -> None:
    """Refuse to talk to a device that runs another model than the one the host means: its image's model hash
    against the project just built (the hash covers config, formats and every section), else the architecture
    numbers and the tokenizer's hash, which a checkpoint gives without packing it."""
    fix = "flash this model (edgekit gen/build/flash), or pass the MODEL the device runs"
    if not identity.model_ok:
        return  # the device says why it has no model; the request that needs one reports it
    if project is not None:
        from edgekit.gen.project import read_manifest

        want = read_manifest(project)["model"]["hash"]
        if identity.model_hash.hex() != want:
            raise EdgekitError(f"the device at {url} runs model {identity.model_hash.hex()[:16]}, not the "
                               f"{want[:16]} just built", path=project, fix=fix)
    cfg = model.config
    got = (identity.vocab_size, identity.num_layers, identity.hidden_size)
    want_cfg = (cfg.vocab_size, cfg.num_layers, cfg.hidden_size)
    if got != want_cfg:
        raise EdgekitError(f"the device at {url} runs a model with vocabulary/layers/hidden {got}, but "
                           f"{model.source} has {want_cfg}", fix=fix)
    if identity.tokenizer_hash != bytes(32) and model.tokenizer_json is not None \
            and identity.tokenizer_hash != model.tokenizer_hash():
        raise EdgekitError(f"the device at {url} was packed with another tokenizer than {model.source}'s "
                           f"(tokenizer hash {identity.tokenizer_hash.hex()[:16]})", fix=fix)


def device_token_stream(model: Model, *, board: str | None, port: str | None, prompt_ids: list[int],
                        max_new: int, temperature: float, top_k: int, top_p: float, seed: int,
                        host: str | None = None, log=None, progress: Progress | None = None
                        ) -> tuple[ConnectedDevice, Iterator[int]]:
    """For `edgekit generate --board/--port`: the connected device and an iterator of generated token ids."""
    from edgekit.link.client import TokenEvent

    dev = connect_device(model, board=board, port=port, host=host, log=log, progress=progress)
    if log:
        log(f"device: {dev.describe}")

    def tokens() -> Iterator[int]:
        stream = dev.client.generate(prompt_ids, max_new_tokens=max_new, temperature=temperature, top_k=top_k,
                                     top_p=top_p, seed=seed)
        for event in stream:
            if isinstance(event, TokenEvent):
                yield event.token_id
        done = stream.done
        if done is not None and done.reason == "error":
            from edgekit import status

            raise EdgekitError(f"device stopped with an error: {status.describe(done.status)}")

    return dev, tokens()
