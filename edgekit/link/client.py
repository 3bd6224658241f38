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


class ProtocolViolation(EdgekitError):
    """The device sent something the protocol does not allow (a hostile or broken firmware)."""


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


class GenerateStream:
    """Iterator over one GENERATE: TokenEvent per token, then a final DoneEvent (also kept in `.done`).

    Leaving the loop early (break, exception) cancels the generation on the device."""

    def __init__(self, client: "DeviceClient", seq: int, first_timeout_s: float, prefill_done: DoneEvent | None,
                 max_new_tokens: int = 0xFFFFFFFF):
        self._client = client
        self.seq = seq
        self.max_new_tokens = max_new_tokens  # a device that streams more than asked is violating the protocol
        self._first_timeout_s = first_timeout_s
        self._prefill = prefill_done  # totals of earlier prompt chunks, folded into the final DoneEvent
        self.tokens: list[int] = []
        self.events: list[TokenEvent] = []
        self.done: DoneEvent | None = None
        # TOKEN/DONE frames that arrived while the client waited for another answer (a PING or STATS
        # sent mid-stream); consumed before reading the link again
        self.backlog: deque[tuple[str, dict]] = deque()

    def __iter__(self) -> Iterator[TokenEvent | DoneEvent]:
        try:
            while self.done is None:
                timeout = self._first_timeout_s if not self.events else self._client._scaled(TOKEN_TIMEOUT_S)
                what = "GENERATE (waiting for the first token)" if not self.events else \
                    f"token {len(self.events)} of GENERATE"
                try:
                    if self.backlog:
                        name, values = self.backlog.popleft()
                    else:
                        name, values = self._client._wait(self.seq, ("TOKEN", "DONE"), timeout, what)
                except DeviceError:
                    self._client._active = None  # the device refused the request: nothing runs
                    raise
                except _NoReply as exc:
                    self._client._active = None  # a silent device: do not also wait for a DONE on exit
                    raise EdgekitError(str(exc)) from None
                event = self._accept(name, values)
                yield event
        finally:
            if self.done is None and self._client._active is self:
                self._client.cancel()

    def _accept(self, name: str, values: dict, *, strict: bool = True) -> TokenEvent | DoneEvent:
        if name == "TOKEN":
            ev = _dataclass_from(TokenEvent, values)
            if len(self.events) >= self.max_new_tokens:
                self._client._active = None
                raise ProtocolViolation(f"device on {self._client.port} sent more tokens than the {self.max_new_tokens} "
                                        "asked for", fix="the firmware is broken or not edgekit's; reflash it")
            vocab = self._client.identity.vocab_size if self._client.identity else None
            if vocab is not None and not 0 <= ev.token_id < vocab:
                self._client._active = None
                raise ProtocolViolation(f"device on {self._client.port} sent token id {ev.token_id}, outside its "
                                        f"vocabulary of {vocab}", fix="the firmware is broken or not edgekit's; reflash it")
            if strict and ev.index != len(self.events):  # a TOKEN frame was lost (CRC error): the text would be wrong
                expected = len(self.events)
                if self._client._active is self:
                    self._client.cancel()
                raise EdgekitError(f"token frame(s) from {self._client.port} were lost on the link (got token "
                                   f"{ev.index}, expected {expected})",
                                   fix="check the link (baud rate, cable, flow control) and retry")
            self.tokens.append(ev.token_id)
            self.events.append(ev)
            return ev
        values = dict(values)
        values["reason"] = M.DONE_REASONS.get(values["reason"], f"reason{values['reason']}")
        if self._prefill is not None:
            p = self._prefill
            values["prompt_tokens"] += p.prompt_tokens
            values["prefill_us"] += p.prefill_us
            values["prefill_cycles"] += p.prefill_cycles
        self.done = _dataclass_from(DoneEvent, values)
        if self._client._active is self:
            self._client._active = None
        return self.done

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
        for _ in range(HELLO_ATTEMPTS):
            seq = self._next_seq()
            sent.append(seq)
            self._send("HELLO", seq, protocol_version=M.PROTOCOL_VERSION)
            try:
                _, values = self._wait(tuple(sent), ("IDENTITY",), timeout, "HELLO")
                break
            except _NoReply:
                continue
        else:
            raise EdgekitError(f"no reply from {self.port} within {timeout * HELLO_ATTEMPTS:.1f} s after HELLO "
                               f"({HELLO_ATTEMPTS} attempts): {self.transport.hint()}")
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
        self._request("RESET", ("ACK",), self._scaled(REQUEST_TIMEOUT_S), mode=mode)

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
        per_frame = M.array_capacity("GENERATE", "prompt", self.max_body)
        flags_base = (M.GEN_STATS if stats else 0) | (M.GEN_STOP_AT_EOS if stop_at_eos else 0)
        cont = continue_sequence
        prefill: DoneEvent | None = None
        while len(prompt) > per_frame:  # prefill-only chunks
            chunk, prompt = prompt[:per_frame], prompt[per_frame:]
            stream = self._start_generate(chunk, 0, 0.0, 0, 1.0, 0, flags_base | (M.GEN_CONTINUE if cont else 0),
                                          None)
            done = stream.run()
            if done.reason == "error" or done.prompt_tokens != len(chunk):
                raise EdgekitError(f"device stopped while prefilling a long prompt: {done.reason} "
                                   f"({S.describe(done.status)})")
            prefill = done if prefill is None else DoneEvent(
                "max_tokens", 0, prefill.prompt_tokens + done.prompt_tokens, 0, done.seq_len,
                prefill.prefill_us + done.prefill_us, prefill.prefill_cycles + done.prefill_cycles, 0, 0)
            cont = True
        flags = flags_base | (M.GEN_CONTINUE if cont else 0)
        return self._start_generate(prompt, max_new_tokens, temperature, top_k, top_p, seed, flags, prefill)

    def _start_generate(self, prompt, max_new, temperature, top_k, top_p, seed, flags, prefill) -> GenerateStream:
        seq = self._next_seq()
        self._send("GENERATE", seq, max_new_tokens=max_new, temperature=float(temperature), top_k=int(top_k),
                   top_p=float(top_p), seed=int(seed) & 0xFFFFFFFFFFFFFFFF, flags=flags, prompt=prompt)
        first = self._scaled(FIRST_TOKEN_BASE_S + PREFILL_PER_TOKEN_S * len(prompt)) + self._wire_s(
            len(prompt) * 5 + 64)
        stream = GenerateStream(self, seq, first, prefill, max_new)
        self._active = stream
        return stream

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
        per_frame = M.array_capacity("LOGITS", "ids", self.max_body)
        cont = continue_sequence
        while len(ids) > per_frame:  # run long inputs in pieces; only the last piece's logits matter
            self._logits_request(ids[:per_frame], 1, cont, ident)
            ids, cont = ids[per_frame:], True
        return self._logits_request(ids, top_k, cont, ident)

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
