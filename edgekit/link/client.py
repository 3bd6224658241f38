"""DeviceClient: the host side of the link protocol (docs/protocol.md).

    with DeviceClient("/dev/ttyACM0") as dev:          # or socket://127.0.0.1:5555, a pty path, ...
        ident = dev.hello()
        for event in dev.generate([1, 15043], max_new_tokens=32):
            ...                                          # TokenEvent..., then one DoneEvent

Every wait is bounded: each request has a named timeout below (scaled by the amount of work and by
`timeout_scale` for slow targets), and a silent device raises EdgekitError naming the port, the request
and what to check. A reply is matched to its request by seq; frames for other seqs (late tokens of a
cancelled answer, echoes on a loopback) are skipped, so garbage or stale bytes never derail a session.
"""
from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, fields
from typing import Iterator

import numpy as np

from edgekit import status as S
from edgekit.errors import EdgekitError
from edgekit.link import messages as M
from edgekit.link.framing import MAX_BODY, Frame, FrameDecoder, encode_frame
from edgekit.link.transport import DEFAULT_BAUD, Transport

# --- timeouts (seconds; all multiplied by timeout_scale) ----------------------------------------------
# A running firmware answers HELLO within milliseconds; the slack covers USB-serial latency and a board
# still validating its image after reset. HELLO is the one request retried: a frame lost to boot noise.
HELLO_TIMEOUT_S = 1.5
HELLO_ATTEMPTS = 4
# IDENTITY is the longest small reply, so on a noisy link the likeliest to be hit: a device whose replies arrive
# damaged (it is alive) is asked up to this many times.
HELLO_NOISY_ATTEMPTS = 32
# Requests the device answers without running the model (PING, STATS, RESET, CANCEL while idle).
REQUEST_TIMEOUT_S = 3.0
# GENERATE until its first TOKEN: a fixed part plus one prefill step per prompt token. 0.5 s/token covers
# a 2B model on a Raspberry Pi 4 (~0.1 s) and a small model on a Cortex-M at a few MHz-equivalent in QEMU.
FIRST_TOKEN_BASE_S = 10.0
PREFILL_PER_TOKEN_S = 0.5
# Between two TOKEN frames: one decode step plus sampling.
TOKEN_TIMEOUT_S = 15.0
# CANCEL until the DONE: the device notices it after the step it is running.
CANCEL_TIMEOUT_S = 20.0
# LOGITS until the first reply frame (fixed part + one step per id), then between reply frames.
LOGITS_BASE_S = 10.0
LOGITS_PER_ID_S = 0.5
LOGITS_CHUNK_TIMEOUT_S = 3.0
# UART frame time: 10 bits per byte (start + 8 data + stop) at the baud rate; added per expected frame.
BITS_PER_BYTE = 10

REQUEST_BOUNDARY = b"\x00"  # sent before each request: flushes any partial frame on the device side

# What the host believes of a device's IDENTITY: a device is outside input like any file. A body smaller than
# MIN_DEVICE_BODY cannot carry the protocol's messages; a vocabulary above MAX_DEVICE_VOCAB would make the host
# allocate a logits buffer of that size on the device's word (real vocabularies are at most a few 100 K).
MIN_DEVICE_BODY = 64
MAX_DEVICE_VOCAB = 1 << 22


# Re-synchronisations in a row without a new token before the link counts as too noisy to use (each costs a
# HELLO and a re-prefill of the sequence so far). Recoveries that make progress are not limited.
RECOVERY_ATTEMPTS = 24
# Probing a device after a loss: CANCELs sent until one is answered (a dead or frozen device fails after all).
RESYNC_ATTEMPTS = 8
RESYNC_TIMEOUT_S = 1.5


class ProtocolViolation(EdgekitError):
    """The device sent something the protocol does not allow (a hostile or broken firmware)."""


class _LinkLoss(EdgekitError):
    """Frames went missing (a gap in token indices, a DONE counting tokens that never arrived, a lost request)."""


class DeviceError(EdgekitError):
    """The device answered a request with an ERROR message."""

    def __init__(self, request: str, status: int, detail: str):
        self.status = status
        self.status_name = S.BY_CODE[status].name if status in S.BY_CODE else str(status)
        text = f"device refused {request}: {S.describe(status)}"
        if detail:
            text += f" [device: {detail}]"
        super().__init__(text)


class _NoReply(Exception):
    pass


@dataclass(frozen=True)
class Identity:
    """The IDENTITY reply (field meanings: edgekit/link/messages.py)."""

    protocol_version: int
    max_body: int
    model_status: int
    vocab_size: int
    context_len: int
    num_layers: int
    hidden_size: int
    bos_id: int
    eos_id: int
    clock_hz: int
    threads: int
    arena_bytes: int
    image_bytes: int
    model_hash: bytes
    tokenizer_hash: bytes
    firmware_version: str
    board: str
    kernel: str

    @property
    def model_ok(self) -> bool:
        return self.model_status == 0

    @property
    def model_error(self) -> str | None:
        return None if self.model_ok else S.describe(self.model_status)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["model_hash"] = self.model_hash.hex()
        d["tokenizer_hash"] = self.tokenizer_hash.hex()
        return d


@dataclass(frozen=True)
class TokenEvent:
    token_id: int
    index: int
    time_us: int  # device time for this token (0 unless stats were requested)
    cycles: int


@dataclass(frozen=True)
class DoneEvent:
    reason: str  # eos | max_tokens | cancelled | context_full | error
    status: int
    prompt_tokens: int
    generated_tokens: int
    seq_len: int  # positions in the device's KV cache afterwards (the last sampled token is not in it)
    prefill_us: int
    prefill_cycles: int
    decode_us: int
    decode_cycles: int
    recoveries: int = 0  # times the host re-synchronised after frames were lost (the tokens are still exact)

    @property
    def decode_tokens_per_s(self) -> float | None:
        return self.generated_tokens / (self.decode_us / 1e6) if self.decode_us > 0 else None

    @property
    def prefill_tokens_per_s(self) -> float | None:
        return self.prompt_tokens / (self.prefill_us / 1e6) if self.prefill_us > 0 else None

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class LogitsReply:
    position: int  # sequence position the logits were computed at
    values: np.ndarray | None = None  # (vocab,) float32, full mode
    top_ids: np.ndarray | None = None  # (k,) top-k mode, largest first
    top_values: np.ndarray | None = None


def _dataclass_from(cls, values: dict):
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


def _hexdump(data: bytes, indent: str) -> str:
    rows = [data[i:i + 16] for i in range(0, len(data), 16)] or [b""]
    return "\n".join(f"{indent}{i * 16:04x}  {' '.join(f'{b:02x}' for b in row)}" for i, row in enumerate(rows))


@dataclass(frozen=True)
class _GenerateRequest:
    """What the caller asked for, kept so a generation can be re-issued after frames are lost."""

    prompt: tuple[int, ...]
    max_new_tokens: int
    temperature: float
    top_k: int
    top_p: float
    seed: int
    stop_at_eos: bool
    stats: bool
    continue_sequence: bool
    base: tuple[int, ...] | None  # the device's sequence before this request (None: not known to the host)
    resumable: bool = True


def advance_seed(seed: int, draws: int) -> int:
    """The sampler seed that continues `seed`'s random stream after `draws` sampled tokens: the sampler takes one
    draw per token above temperature 0 (docs/protocol.md, "Sampling"), and a seed is the generator's state."""
    from edgekit.reference.sampler import Rng

    rng = Rng(seed)
    for _ in range(draws):
        rng.next_u32()
    return rng.state


class GenerateStream:
    """Iterator over one GENERATE: TokenEvent per token, then a final DoneEvent (also kept in `.done`).

    Leaving the loop early (break, exception) cancels the generation on the device.

    Frames lost or corrupted on the link do not end the answer: a gap in the token indices, a DONE that counts
    tokens we never saw, or silence is followed by a HELLO (which also stops the device) and the same request
    again as a fresh sequence of prompt + the tokens already received, the rest of max_new_tokens, and the seed
    advanced past the draws already made. Greedy and seeded answers come out exactly as without the loss, the
    tokens are never repeated or skipped, and only a device that stops answering HELLO ends the stream."""

    def __init__(self, client: "DeviceClient", request: _GenerateRequest):
        self._client = client
        self.request = request
        self.seq = 0
        self.max_new_tokens = request.max_new_tokens  # a device that streams more than asked violates the protocol
        self._first_timeout_s = 0.0
        self._prefill: DoneEvent | None = None  # totals of earlier prompt chunks, folded into the final DoneEvent
        self._index_base = 0  # tokens received before the device request now running (after a resume)
        self.recoveries = 0
        self._stalled = 0  # recoveries since the last new token
        self._sent: list[int] = []  # seqs of the GENERATEs this answer sent (the device may still run any of them)
        self.tokens: list[int] = []
        self.events: list[TokenEvent] = []
        self.done: DoneEvent | None = None
        # TOKEN/DONE frames that arrived while the client waited for another answer (a PING or STATS
        # sent mid-stream); consumed before reading the link again
        self.backlog: deque[tuple[str, dict]] = deque()

    # --- sending ------------------------------------------------------------------------------------------
    def _launch(self, prompt: list[int], max_new: int, seed: int, cont: bool) -> None:
        """Send the request: prefill-only chunks for prompts longer than a frame, then the GENERATE we stream."""
        c, r = self._client, self.request
        per_frame = M.array_capacity("GENERATE", "prompt", c.max_body)
        flags_base = (M.GEN_STATS if r.stats else 0) | (M.GEN_STOP_AT_EOS if r.stop_at_eos else 0)
        prefill: DoneEvent | None = None
        while len(prompt) > per_frame:  # prefill-only chunks
            chunk, prompt = prompt[:per_frame], prompt[per_frame:]
            sub = GenerateStream(c, _GenerateRequest(tuple(chunk), 0, 0.0, 0, 1.0, 0, r.stop_at_eos, r.stats, cont,
                                                     None, resumable=False))
            sub._send(chunk, 0, 0, flags_base | (M.GEN_CONTINUE if cont else 0), None)
            done = sub.run()
            if done.reason == "error" or done.prompt_tokens != len(chunk):
                raise EdgekitError(f"device stopped while prefilling a long prompt: {done.reason} "
                                   f"({S.describe(done.status)})")
            prefill = done if prefill is None else DoneEvent(
                "max_tokens", 0, prefill.prompt_tokens + done.prompt_tokens, 0, done.seq_len,
                prefill.prefill_us + done.prefill_us, prefill.prefill_cycles + done.prefill_cycles, 0, 0)
            cont = True
        self._send(prompt, max_new, seed, flags_base | (M.GEN_CONTINUE if cont else 0), prefill)

    def _send(self, prompt: list[int], max_new: int, seed: int, flags: int, prefill: DoneEvent | None) -> None:
        c, r = self._client, self.request
        self.seq = c._next_seq()
        self._sent.append(self.seq)
        c._send("GENERATE", self.seq, max_new_tokens=max_new, temperature=float(r.temperature), top_k=int(r.top_k),
                top_p=float(r.top_p), seed=int(seed) & 0xFFFFFFFFFFFFFFFF, flags=flags, prompt=prompt)
        self._first_timeout_s = c._scaled(FIRST_TOKEN_BASE_S + PREFILL_PER_TOKEN_S * len(prompt)) + c._wire_s(
            len(prompt) * 5 + 64)
        self._prefill = prefill
        self.max_new_tokens = self._index_base + max_new
        c._active = self

    def _start(self) -> None:
        """Send the request as the caller made it; a lost frame on the way is recovered like any other."""
        r = self.request
        try:
            self._launch(list(r.prompt), r.max_new_tokens, r.seed, r.continue_sequence)
        except _LinkLoss as exc:
            self._recover(str(exc))
        except DeviceError as exc:
            if not self._busy_with_our_own(exc):
                raise
            self._recover(str(exc))

    def _busy_with_our_own(self, exc: DeviceError) -> bool:
        """BUSY after frames were lost: the device is still running a request of ours whose end we missed."""
        return exc.status_name == "BUSY" and self.request.resumable and self._client.resume and self.recoveries > 0

    # --- receiving ----------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[TokenEvent | DoneEvent]:
        try:
            while self.done is None:
                timeout = self._first_timeout_s if len(self.events) == self._index_base else \
                    self._client._scaled(TOKEN_TIMEOUT_S)
                what = "GENERATE (waiting for the first token)" if not self.events else \
                    f"token {len(self.events)} of GENERATE"
                try:
                    if self.backlog:
                        name, values = self.backlog.popleft()
                    else:
                        name, values = self._client._wait(self.seq, ("TOKEN", "DONE"), timeout, what)
                    event = self._accept(name, values)
                except DeviceError as exc:
                    self._client._active = None  # the device refused the request: nothing runs
                    if not self._busy_with_our_own(exc):
                        raise
                    self._recover(str(exc))
                    continue
                except _NoReply as exc:
                    self._recover(str(exc))
                    continue
                except _LinkLoss as exc:
                    self._recover(str(exc))
                    continue
                if event is not None:
                    yield event
        finally:
            if self.done is None and self._client._active is self:
                self._client.cancel()

    def _accept(self, name: str, values: dict, *, strict: bool = True) -> TokenEvent | DoneEvent | None:
        """The event to hand out, None for a duplicate; raises _LinkLoss when frames went missing."""
        if name == "TOKEN":
            ev = _dataclass_from(TokenEvent, values)
            index = ev.index + self._index_base
            vocab = self._client.identity.vocab_size if self._client.identity else None
            if vocab is not None and not 0 <= ev.token_id < vocab:
                self._client._active = None
                raise ProtocolViolation(f"device on {self._client.port} sent token id {ev.token_id}, outside its "
                                        f"vocabulary of {vocab}", fix="the firmware is broken or not edgekit's; reflash it")
            if index < len(self.events):
                return None  # a duplicated frame (or a resumed device repeating one): already have it
            if index >= self.max_new_tokens:
                self._client._active = None
                raise ProtocolViolation(f"device on {self._client.port} sent more tokens than the {self.max_new_tokens} "
                                        "asked for", fix="the firmware is broken or not edgekit's; reflash it")
            if index > len(self.events):
                if strict:
                    raise _LinkLoss(f"token frame(s) from {self._client.port} were lost on the link (got token "
                                    f"{index}, expected {len(self.events)})")
                return None  # cancelling anyway: a gap no longer matters
            ev = TokenEvent(ev.token_id, index, ev.time_us, ev.cycles)
            self._stalled = 0
            self.tokens.append(ev.token_id)
            self.events.append(ev)
            return ev
        values = dict(values)
        values["reason"] = M.DONE_REASONS.get(values["reason"], f"reason{values['reason']}")
        values["generated_tokens"] += self._index_base
        if strict and values["reason"] != "error" and values["generated_tokens"] != len(self.events):
            raise _LinkLoss(f"the device generated {values['generated_tokens']} tokens but "
                            f"{len(self.events)} arrived: frames were lost on the link")
        values["prompt_tokens"] = len(self.request.prompt) if self._index_base else values["prompt_tokens"]
        if self._prefill is not None and not self._index_base:
            p = self._prefill
            values["prompt_tokens"] += p.prompt_tokens
            values["prefill_us"] += p.prefill_us
            values["prefill_cycles"] += p.prefill_cycles
        values["recoveries"] = self.recoveries
        self._finish(_dataclass_from(DoneEvent, values))
        return self.done

    def _finish(self, done: DoneEvent) -> None:
        self.done = done
        c = self._client
        if c._active is self:
            c._active = None
        if self.request.resumable:
            c._track_generate(self.request, self.tokens, done)

    # --- recovery -----------------------------------------------------------------------------------------
    def _recover(self, why: str) -> None:
        """Resynchronise with the device and re-issue what is left of the request (see the class docstring)."""
        c, r = self._client, self.request
        c._active = None
        while True:
            if not (r.resumable and c.resume):
                # a _LinkLoss, so a resumable stream this one prefills for recovers the whole request
                raise _LinkLoss(why, fix="check the link (baud rate, cable, flow control) and retry")
            if self._stalled >= RECOVERY_ATTEMPTS:
                raise EdgekitError(f"{why}; gave up after {self._stalled} recoveries in a row without a new token",
                                   fix="the link is too noisy: check the cable, lower the baud rate or add flow control")
            if r.base is None:
                raise EdgekitError(f"{why}; the answer cannot be resumed because the host does not know the "
                                   "device's earlier sequence", fix="start a new conversation (/reset) and retry")
            self.recoveries += 1
            self._stalled += 1
            c._log(f"recovering ({self._stalled}/{RECOVERY_ATTEMPTS} in a row): {why}")
            self._resync(why)
            eos = c.identity.eos_id if c.identity else None
            k = len(self.events)
            last = self.events[-1].token_id if self.events else None
            if k >= r.max_new_tokens or (last is not None and r.stop_at_eos and last == eos):
                # every token arrived, only the DONE was lost: the answer is complete
                reason = "max_tokens" if k >= r.max_new_tokens else "eos"
                self._finish(DoneEvent(reason, 0, len(r.prompt), k, len(r.base) + len(r.prompt) + max(k - 1, 0),
                                       0, 0, 0, 0, recoveries=self.recoveries))
                return
            seed = advance_seed(r.seed, k) if r.temperature > 0 else r.seed
            self._index_base = k
            try:
                self._launch(list(r.base) + list(r.prompt) + self.tokens, r.max_new_tokens - k, seed, False)
                return
            except _LinkLoss as exc:
                why = str(exc)
                c._active = None
            except DeviceError as exc:
                if not self._busy_with_our_own(exc):
                    raise
                why = str(exc)
                c._active = None

    def _resync(self, why: str) -> None:
        """Make sure the device is alive and idle: CANCEL until it answers, ACK (it was idle) or the DONE of the
        request it was running. Small frames, retried: on a noisy link a big reply (IDENTITY) is the likeliest to
        be hit, so HELLO is not the probe."""
        c = self._client
        ours = tuple(self._sent[-8:])
        for _ in range(RESYNC_ATTEMPTS):
            seq = c._next_seq()
            c._send("CANCEL", seq)
            try:
                c._wait(ours + (seq,), ("DONE", "ACK"), c._scaled(RESYNC_TIMEOUT_S), "CANCEL")
                return
            except _NoReply:
                continue
        raise EdgekitError(f"device on {c.port} stopped answering after: {why} ({RESYNC_ATTEMPTS} CANCELs "
                           f"unanswered: {c.transport.hint()})",
                           fix="check that the board is powered and running; reset it and retry")

    def run(self) -> DoneEvent:
        """Consume the stream; return the DoneEvent."""
        for _ in self:
            pass
        assert self.done is not None
        return self.done


class DeviceClient:
    """A session with one device over one transport. Not thread-safe: one caller at a time."""

    def __init__(self, port: str | Transport, *, baud: int = DEFAULT_BAUD, trace: bool = False,
                 timeout_scale: float = 1.0, trace_stream=None):
        self.transport = port if isinstance(port, Transport) else Transport(port, baud=baud)
        self.trace = trace
        self._trace_out = trace_stream or sys.stderr
        self.timeout_scale = float(timeout_scale)
        self.decoder = FrameDecoder()
        self._frames: deque[Frame] = deque()
        self._seq = 0
        self._t0 = time.monotonic()
        self.identity: Identity | None = None
        self._active: GenerateStream | None = None
        # Recover answers from lost frames (GenerateStream). Needs the device's sequence as the host saw it go in:
        # () after a fresh request or RESET, None when unknown (a continuation then cannot be resumed).
        self.resume = True
        self.sequence: tuple[int, ...] | None = None

    # --- plumbing ------------------------------------------------------------------------------------
    def __enter__(self) -> "DeviceClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    @property
    def port(self) -> str:
        return self.transport.url

    @property
    def max_body(self) -> int:
        """The largest body both sides accept: the device's limit, never above this host's."""
        return min(self.identity.max_body, MAX_BODY) if self.identity else MAX_BODY

    def _scaled(self, seconds: float) -> float:
        return seconds * self.timeout_scale

    def _wire_s(self, nbytes: int) -> float:
        """Time nbytes take on a UART at this baud rate (0 for sockets and ptys, which have no baud)."""
        return nbytes * BITS_PER_BYTE / self.transport.baud if self.transport.is_serial_line else 0.0

    def _next_seq(self) -> int:
        self._seq = self._seq % 255 + 1  # 1..255; 0 is left for unsolicited frames
        return self._seq

    def _log(self, text: str) -> None:
        if self.trace:
            print(f"[{time.monotonic() - self._t0:9.3f}] {text}", file=self._trace_out, flush=True)

    def send_raw(self, msg_type: int, seq: int, body: bytes) -> None:
        """Send one frame as is (tests and diagnostics use this for types the table does not have)."""
        wire = REQUEST_BOUNDARY + encode_frame(msg_type, seq, body)
        if self.trace:
            m = M.BY_CODE.get(msg_type)
            self._log(f"TX {m.name if m else f'type 0x{msg_type:02x}'} seq={seq} body={len(body)} B\n"
                      + _hexdump(wire, "    "))
        self.transport.write(wire)

    def _send(self, name: str, seq: int, **values) -> None:
        self.send_raw(M.BY_NAME[name].code, seq, M.encode_body(name, **values))

    def _recv(self, deadline: float) -> Frame | None:
        while not self._frames:
            data = self.transport.read(deadline)
            if not data:
                if time.monotonic() >= deadline:
                    return None
                continue
            before = (self.decoder.crc_errors, self.decoder.malformed, self.decoder.oversize)
            frames = self.decoder.feed(data)
            after = (self.decoder.crc_errors, self.decoder.malformed, self.decoder.oversize)
            if after != before:
                self._log(f"RX dropped garbage: crc_errors={after[0]} malformed={after[1]} oversize={after[2]}")
            self._frames.extend(frames)
        frame = self._frames.popleft()
        if self.trace:
            m = M.BY_CODE.get(frame.msg_type)
            self._log(f"RX {m.name if m else f'type 0x{frame.msg_type:02x}'} seq={frame.seq} "
                      f"body={len(frame.body)} B\n" + _hexdump(frame.body, "    "))
        return frame

    def _decode(self, frame: Frame) -> tuple[str, dict] | None:
        m = M.BY_CODE.get(frame.msg_type)
        if m is None or m.direction != "d2h":
            return None  # an echo of our own request (loopback) or a type from a newer firmware
        try:
            return m.name, M.decode_body(frame.msg_type, frame.body)
        except M.MessageError as exc:
            raise EdgekitError(f"device on {self.port} sent a malformed {m.name} message: {exc}",
                               fix="the firmware and this edgekit disagree on the protocol; rebuild and flash "
                                   "the firmware with this edgekit") from None

    def _wait(self, seq: int | tuple[int, ...], accept: tuple[str, ...], timeout_s: float, what: str,
              *, raise_errors: bool = True) -> tuple[str, dict]:
        """The next reply with this seq whose type is in accept. ERROR replies raise DeviceError."""
        seqs = (seq,) if isinstance(seq, int) else seq
        deadline = time.monotonic() + timeout_s
        while True:
            frame = self._recv(deadline)
            if frame is None:
                raise _NoReply(f"no reply from {self.port} within {timeout_s:.1f} s after {what}: "
                               f"{self.transport.hint()}")
            decoded = self._decode(frame)
            active = self._active
            if decoded is not None and active is not None and frame.seq == active.seq and frame.seq not in seqs \
                    and decoded[0] in ("TOKEN", "DONE"):
                active.backlog.append(decoded)  # the stream's, while we wait for something else: keep it
                continue
            if decoded is None or frame.seq not in seqs:
                self._log(f"   (skipped: not a reply to seq {'/'.join(map(str, seqs))})")
                continue
            name, values = decoded
            if name == "ERROR" and raise_errors:
                req = M.BY_CODE.get(values["request_type"])
                raise DeviceError(req.name if req else what, values["status"], values["detail"])
            if name in accept or (name == "ERROR" and not raise_errors):
                return name, values
            self._log(f"   (skipped: {name} is not an answer to {what})")

    def _request(self, name: str, accept: tuple[str, ...], timeout_s: float, **values) -> tuple[str, dict]:
        seq = self._next_seq()
        self._send(name, seq, **values)
        try:
            return self._wait(seq, accept, timeout_s, name)
        except _NoReply as exc:
            raise EdgekitError(str(exc)) from None

    def _require_idle(self, what: str) -> None:
        if self._active is not None:
            raise EdgekitError(f"cannot send {what} while a generate is streaming",
                               fix="finish iterating the generate stream or call cancel() first")

    # --- requests ------------------------------------------------------------------------------------
    def hello(self) -> Identity:
        """Handshake (retried HELLO_ATTEMPTS times). Checks the protocol version; returns the identity.
        Starts a session: the device ends any generation still running (ours, or a previous host's)."""
        sent: list[int] = []
        timeout = self._scaled(HELLO_TIMEOUT_S)
        attempts = 0
        damaged = self.decoder.crc_errors + self.decoder.malformed
        while True:
            attempts += 1
            seq = self._next_seq()
            sent = (sent + [seq])[-16:]  # a late IDENTITY to any recent HELLO will do
            self._send("HELLO", seq, protocol_version=M.PROTOCOL_VERSION)
            try:
                _, values = self._wait(tuple(sent), ("IDENTITY",), timeout, "HELLO")
                break
            except _NoReply:
                # A device whose replies arrive damaged is alive on a noisy link: keep asking, up to a bound.
                noisy = self.decoder.crc_errors + self.decoder.malformed > damaged
                if attempts >= (HELLO_NOISY_ATTEMPTS if noisy else HELLO_ATTEMPTS):
                    raise EdgekitError(f"no {'intact ' if noisy else ''}reply from {self.port} within "
                                       f"{timeout * attempts:.1f} s after HELLO ({attempts} attempts): "
                                       f"{self.transport.hint() if not noisy else 'the link damages every reply'}",
                                       fix="check the cable, baud rate and flow control" if noisy else None)
                continue
        ident = _dataclass_from(Identity, values)
        if ident.protocol_version != M.PROTOCOL_VERSION:
            raise EdgekitError(f"device on {self.port} speaks link protocol {ident.protocol_version}, this "
                               f"edgekit speaks {M.PROTOCOL_VERSION}",
                               fix="rebuild and flash the firmware with this edgekit")
        if ident.max_body < MIN_DEVICE_BODY:
            raise ProtocolViolation(f"device on {self.port} reports a frame body limit of {ident.max_body} bytes "
                                    f"(the protocol needs at least {MIN_DEVICE_BODY})",
                                    fix="the firmware is broken or not edgekit's; reflash it")
        if ident.model_ok and not 0 < ident.vocab_size <= MAX_DEVICE_VOCAB:
            raise ProtocolViolation(f"device on {self.port} reports a vocabulary of {ident.vocab_size} tokens",
                                    fix="the firmware is broken or not edgekit's; reflash it")
        self.identity = ident
        return ident

    def _ensure_identity(self) -> Identity:
        return self.identity or self.hello()

    def ping(self, data: bytes = b"edgekit") -> float:
        """Round trip in seconds. The device must echo data exactly."""
        t0 = time.monotonic()
        _, values = self._request("PING", ("PONG",), self._scaled(REQUEST_TIMEOUT_S) + self._wire_s(
            2 * (len(data) + 16)), data=data)
        if values["data"] != bytes(data):
            raise EdgekitError(f"device on {self.port} echoed {values['data']!r} to PING {bytes(data)!r}",
                               fix="the link corrupts data without breaking CRCs? check the firmware")
        return time.monotonic() - t0

    def stats(self) -> dict:
        """STATS_REPLY as a dict (counters since the last RESET; link counters since boot)."""
        _, values = self._request("STATS", ("STATS_REPLY",), self._scaled(REQUEST_TIMEOUT_S) + self._wire_s(200))
        return values

    def reset(self, *, restart: bool = False) -> None:
        """Forget the device's sequence and counters; restart=True restarts the firmware (process exits)."""
        self._require_idle("RESET")
        mode = M.RESET_RESTART if restart else M.RESET_SEQUENCE
        self.sequence = None
        self._request("RESET", ("ACK",), self._scaled(REQUEST_TIMEOUT_S), mode=mode)
        self.sequence = ()

    def request_raw(self, msg_type: int, body: bytes = b"", timeout_s: float | None = None) -> tuple[str, dict]:
        """Send any frame and return the device's reply (name, fields), ERROR included (not raised)."""
        seq = self._next_seq()
        self.send_raw(msg_type, seq, body)
        try:
            return self._wait(seq, tuple(M.BY_NAME), timeout_s or self._scaled(REQUEST_TIMEOUT_S),
                              f"message type 0x{msg_type:02x}", raise_errors=False)
        except _NoReply as exc:
            raise EdgekitError(str(exc)) from None

    def generate(self, prompt_ids: list[int], *, max_new_tokens: int, temperature: float = 0.0, top_k: int = 0,
                 top_p: float = 1.0, seed: int = 0, stop_at_eos: bool = True, stats: bool = True,
                 continue_sequence: bool = False) -> GenerateStream:
        """Start a generation; iterate the returned stream for TokenEvents and the final DoneEvent.

        Prompts longer than one frame are prefilled in chunks first (GENERATE with max_new_tokens 0 and
        CONTINUE). continue_sequence=True appends to the device's current sequence (chat turns)."""
        self._require_idle("GENERATE")
        self._ensure_identity()
        prompt = [int(t) for t in prompt_ids]
        if not prompt and not continue_sequence:
            raise EdgekitError("the prompt is empty", fix="give at least one prompt token")
        if not 0 <= max_new_tokens <= 0xFFFFFFFF:
            raise EdgekitError(f"max_new_tokens {max_new_tokens} is out of range")
        if any(not 0 <= t <= 0xFFFFFFFF for t in prompt):
            raise EdgekitError("a prompt token id is outside 0..2^32-1", fix="give token ids of this model")
        base = self.sequence if continue_sequence else ()
        stream = GenerateStream(self, _GenerateRequest(tuple(prompt), int(max_new_tokens), float(temperature),
                                                       int(top_k), float(top_p), int(seed), bool(stop_at_eos),
                                                       bool(stats), bool(continue_sequence), base))
        self.sequence = None  # unknown until the DONE says what went in
        stream._start()
        return stream

    def _track_generate(self, request: _GenerateRequest, tokens: list[int], done: DoneEvent) -> None:
        """The device's sequence after a GENERATE: what went in before, the prompt, and every generated token but
        the last (sampled, not yet run). Checked against DONE.seq_len; unknown if they disagree."""
        if request.base is None or done.reason == "error":
            self.sequence = None
            return
        seq = request.base + request.prompt + tuple(tokens[:-1] if tokens else ())
        self.sequence = seq if len(seq) == done.seq_len else None

    def cancel(self) -> DoneEvent | None:
        """Stop the running generation; returns its DoneEvent (None if nothing was running)."""
        stream = self._active
        seq = self._next_seq()
        self._send("CANCEL", seq)
        if stream is None:
            try:
                self._wait(seq, ("ACK",), self._scaled(REQUEST_TIMEOUT_S), "CANCEL")
            except _NoReply as exc:
                raise EdgekitError(str(exc)) from None
            return None
        # tokens that arrive while cancelling are kept but not checked for gaps: the answer is being dropped
        while stream.backlog and stream.done is None:
            stream._accept(*stream.backlog.popleft(), strict=False)
        timeout = self._scaled(CANCEL_TIMEOUT_S)
        deadline = time.monotonic() + timeout
        while stream.done is None:
            try:
                name, values = self._wait((stream.seq, seq), ("TOKEN", "DONE", "ACK"),
                                          max(0.0, deadline - time.monotonic()), "CANCEL")
            except _NoReply:
                self._active = None
                raise EdgekitError(f"no DONE from {self.port} within {timeout:.1f} s after CANCEL: "
                                   f"{self.transport.hint()}") from None
            if name in ("TOKEN", "DONE"):
                stream._accept(name, values, strict=False)
            elif name == "ACK":  # the device was idle: the generation had ended and its DONE was lost
                self._active = None
                return None
        return stream.done

    def logits(self, ids: list[int], *, top_k: int | None = None, continue_sequence: bool = False) -> LogitsReply:
        """Logits after running ids (a fresh sequence unless continue_sequence). top_k: only the k largest."""
        self._require_idle("LOGITS")
        ident = self._ensure_identity()
        ids = [int(t) for t in ids]
        if any(not 0 <= t <= 0xFFFFFFFF for t in ids):
            raise EdgekitError("a token id is outside 0..2^32-1", fix="give token ids of this model")
        after = (self.sequence + tuple(ids)) if continue_sequence and self.sequence is not None else \
            (None if continue_sequence else tuple(ids))
        self.sequence = None  # unknown until the reply is complete
        per_frame = M.array_capacity("LOGITS", "ids", self.max_body)
        cont = continue_sequence
        while len(ids) > per_frame:  # run long inputs in pieces; only the last piece's logits matter
            self._logits_request(ids[:per_frame], 1, cont, ident)
            ids, cont = ids[per_frame:], True
        reply = self._logits_request(ids, top_k, cont, ident)
        self.sequence = after
        return reply

    def _logits_request(self, ids, top_k, cont, ident: Identity) -> LogitsReply:
        seq = self._next_seq()
        mode = M.LOGITS_TOPK if top_k else M.LOGITS_FULL
        self._send("LOGITS", seq, mode=mode, flags=M.LOGITS_CONTINUE if cont else 0, top_k=int(top_k or 0), ids=ids)
        first = self._scaled(LOGITS_BASE_S + LOGITS_PER_ID_S * len(ids)) + self._wire_s(len(ids) * 5 + 64)
        try:
            if mode == M.LOGITS_TOPK:
                _, v = self._wait(seq, ("LOGITS_TOPK",), first + self._wire_s(self.max_body), "LOGITS")
                return LogitsReply(v["position"], top_ids=np.array(v["ids"], dtype=np.int64),
                                   top_values=np.array(v["values"], dtype=np.float32))
            values = None
            filled = 0
            timeout = first
            while values is None or filled < len(values):
                _, v = self._wait(seq, ("LOGITS_CHUNK",), timeout + self._wire_s(self.max_body), "LOGITS")
                if values is None:
                    if v["total"] != ident.vocab_size:  # never allocate what the device says without a check
                        raise ProtocolViolation(f"device on {self.port} announced {v['total']} logits for a "
                                                f"vocabulary of {ident.vocab_size}",
                                                fix="the firmware is broken or not edgekit's; reflash it")
                    values = np.empty(v["total"], dtype=np.float32)
                if v["offset"] != filled or v["total"] != len(values) or filled + len(v["values"]) > len(values):
                    raise EdgekitError(f"device on {self.port} sent logits chunk at offset {v['offset']} "
                                       f"(expected {filled}, total {len(values)})",
                                       fix="a frame was lost on the link; retry, or lower the baud rate")
                values[filled:filled + len(v["values"])] = v["values"]
                filled += len(v["values"])
                timeout = self._scaled(LOGITS_CHUNK_TIMEOUT_S)
                if not v["values"] and filled < len(values):
                    raise EdgekitError(f"device on {self.port} sent an empty logits chunk")
            return LogitsReply(v["position"], values=values)
        except _NoReply as exc:
            raise EdgekitError(str(exc)) from None

    def logits_all(self, ids: list[int]) -> np.ndarray:
        """(T, vocab) float32: the logits at every position of ids, one LOGITS request per position
        (the first fresh, the rest CONTINUE: T model steps in all, as in a normal prefill)."""
        if not ids:
            raise EdgekitError("no token ids to run")
        rows = [self.logits([ids[0]]).values]
        for t in ids[1:]:
            rows.append(self.logits([t], continue_sequence=True).values)
        return np.stack(rows)
