"""Text on top of the token link: streamed generation as text pieces, and chat sessions.

    stream = stream_generate(client, tokenizer, prompt_ids, max_new_tokens=64)
    for piece in stream:          # str pieces, printable as they come
        print(piece, end="", flush=True)
    stream.done                   # DoneEvent: reason, token counts, device timings

    chat = ChatSession(client, tokenizer, chat_template=model.chat_template, transcript=Path("chat.json"))
    for piece in chat.send("Hello!"):
        ...

`tokenizer` is a `tokenizers.Tokenizer` or anything with `decode(ids) -> str` (and `encode(text)` for chat),
e.g. an edgekit Model.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from edgekit.atomic_file import write_text_atomic
from edgekit.errors import EdgekitError
from edgekit.link.client import DeviceClient, DoneEvent, TokenEvent
from edgekit.textstream import IncrementalDecoder



def _encode(tokenizer, text: str, *, special: bool = False) -> list[int]:
    """special=True lets the tokenizer's post-processor add BOS (start of a conversation)."""
    if _accepts_kw(tokenizer.encode):
        enc = tokenizer.encode(text, add_special_tokens=special)
    else:
        enc = tokenizer.encode(text)
    return list(enc.ids) if hasattr(enc, "ids") else list(enc)


def _accepts_kw(fn) -> bool:
    import inspect

    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins of the Rust tokenizer do not always expose a signature
        return True
    return "add_special_tokens" in sig.parameters or any(
        p.kind == p.VAR_KEYWORD for p in sig.parameters.values())


class TextStream:
    """Iterate for text pieces; afterwards `.done` (DoneEvent), `.token_ids`, `.events` are filled in.

    stop_ids: extra token ids that end the answer (e.g. a chat template's end-of-turn token when the
    image's eos id is a different one): the host cancels the device as soon as one arrives."""

    def __init__(self, client: DeviceClient, tokenizer, prompt_ids, *, stop_ids=(), **generate_args):
        self.client = client
        self.decoder = IncrementalDecoder(tokenizer)
        self.stop_ids = frozenset(int(t) for t in stop_ids)
        self._args = generate_args
        self._prompt = list(prompt_ids)
        self.events: list[TokenEvent] = []
        self.token_ids: list[int] = []  # every token the device sent (including a stop token)
        self.done: DoneEvent | None = None
        self.stopped_by: int | None = None  # the stop id that ended the answer, if any
        self.text = ""
        self.generation = None  # the link's GenerateStream: its .done survives a cancel

    def __iter__(self) -> Iterator[str]:
        self.generation = stream = self.client.generate(self._prompt, **self._args)
        eos = self.client.identity.eos_id if self.client.identity else None
        events = iter(stream)
        try:
            yield from self._pieces(events, eos)
        finally:
            # an answer left early (Ctrl-C, the caller closing us): close the link stream now, which cancels
            # the device and waits for its DONE, instead of whenever the generator is collected
            events.close()

    def _pieces(self, stream, eos) -> Iterator[str]:
        for event in stream:
            if isinstance(event, DoneEvent):
                self.done = event
                break
            self.events.append(event)
            self.token_ids.append(event.token_id)
            if event.token_id in self.stop_ids:
                self.stopped_by = event.token_id
                self.done = self.client.cancel()
                break
            if event.token_id == eos and self._args.get("stop_at_eos", True):
                continue  # the DONE follows; an eos token has no text to show
            piece = self.decoder.push(event.token_id)
            if piece:
                self.text += piece
                yield piece
        tail = self.decoder.flush()
        if tail:
            self.text += tail
            yield tail

    def run(self) -> str:
        for _ in self:
            pass
        return self.text


def stream_generate(client: DeviceClient, tokenizer, prompt_ids: list[int], *, max_new_tokens: int,
                    temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0, seed: int = 0,
                    stop_at_eos: bool = True, stop_ids=(), continue_sequence: bool = False) -> TextStream:
    """Generate on the device and yield decoded text pieces as tokens arrive (see TextStream)."""
    return TextStream(client, tokenizer, prompt_ids, stop_ids=stop_ids, max_new_tokens=max_new_tokens,
                      temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, stop_at_eos=stop_at_eos,
                      continue_sequence=continue_sequence)


# --- chat ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RoleColonTemplate:
    """The chat format of microsoft/bitnet-b1.58-2B-4T (and its family), rendered without Jinja:

        {bos}System: <text><|eot_id|>User: <text><|eot_id|>Assistant: <text><|eot_id|>...Assistant: 

    i.e. per message: capitalised role + ": " + stripped content + end-of-turn; the generation prompt is
    "Assistant: "; bos only when the template names bos_token."""

    end_of_turn: str
    with_bos: bool
    generation_prompt: str = "Assistant: "

    def render_message(self, role: str, content: str) -> str:
        return f"{role.capitalize()}: {content.strip()}{self.end_of_turn}"


def parse_chat_template(template: str | None) -> RoleColonTemplate | None:
    """Recognise the template formats we can render without a Jinja engine; None otherwise."""
    if not template:
        return None
    if "capitalize" in template and "'Assistant: '" in template and "<|eot_id|>" in template:
        return RoleColonTemplate("<|eot_id|>", "bos_token" in template)
    return None


# Why an answer ended, as the chat shows it: the device's DONE reasons, plus the host's own.
STOP_REASONS = {
    "eos": "eos",  # the model's end token (or the chat template's end of turn)
    "max_tokens": "max tokens",  # --max-new reached
    "context_full": "context full",  # the conversation filled the device's context
    "cancelled": "cancelled",  # Ctrl-C
    "device_limit": "device limit",  # --max-new is more than the device's context holds: stopped at its end
    "error": "error",
}


@dataclass
class ChatTurn:
    role: str
    content: str
    stats: dict | None = None
    stop_reason: str | None = None  # assistant turns: a key of STOP_REASONS

    def to_dict(self) -> dict:
        d = {"role": self.role, "content": self.content}
        if self.stop_reason:
            d["stop_reason"] = self.stop_reason
        if self.stop_reason == "cancelled":
            d["cancelled"] = True  # the answer is cut short: it is not what the model would have said
        if self.stats:
            d["stats"] = self.stats
        return d


class ChatSession:
    """A conversation with the device that keeps the device's KV cache between turns.

    With a recognised chat template each user message is rendered as a turn; otherwise the session is a
    plain continuation (each message is appended as text). The device's sequence is reused when it is a
    prefix of the conversation so far (only new tokens are sent); otherwise (a context overflow, or an
    answer cut after its stop token) the conversation is re-sent from the start, oldest turns dropped
    first if it no longer fits the context."""

    def __init__(self, client: DeviceClient, tokenizer, *, chat_template: str | None = None,
                 system: str | None = None, transcript: str | Path | None = None, max_new_tokens: int = 256,
                 temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0, seed: int = 0):
        self.client = client
        self.tokenizer = tokenizer
        self.template = parse_chat_template(chat_template)
        self.system = system
        self.transcript = Path(transcript) if transcript else None
        self.sampling = dict(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p)
        self.seed = seed
        self.turns: list[ChatTurn] = []
        self.device_tokens: list[int] = []  # what the device's KV cache holds, token for token
        self.conversation: list[int] = []  # the conversation as tokens (prompts + answers)
        self.identity = client.identity or client.hello()
        self.stop_ids: set[int] = set()
        if self.template:
            eot = self._token_id(self.template.end_of_turn)
            if eot is not None:
                self.stop_ids.add(eot)
        self._started = time.time()

    @property
    def device_limit(self) -> int:
        """The longest answer the device's context allows after a prompt of one token (less one, so the limit is
        the same with or without a BOS); max_new_tokens above it is clamped, and the answer that reaches the
        context's end says "device limit"."""
        return self.identity.context_len - 1

    @property
    def clamped(self) -> bool:
        return self.sampling["max_new_tokens"] > self.device_limit

    @property
    def mode(self) -> str:
        return "chat" if self.template else "continuation"

    def _token_id(self, text: str) -> int | None:
        fn = getattr(self.tokenizer, "token_to_id", None)
        if fn is not None:
            return fn(text)
        ids = _encode(self.tokenizer, text)
        return ids[0] if len(ids) == 1 else None

    def _bos(self) -> list[int]:
        bos = self.identity.bos_id
        return [bos] if self.template and self.template.with_bos and bos != 0xFFFFFFFF else []

    def _render_full(self, turns: list[ChatTurn]) -> list[int]:
        """The whole conversation (for a fresh start), ending with the generation prompt."""
        if not self.template:
            return _encode(self.tokenizer, "".join(t.content for t in turns), special=True)
        text = ""
        if self.system:
            text += self.template.render_message("system", self.system)
        for t in turns:
            text += self.template.render_message(t.role, t.content)
        text += self.template.generation_prompt
        return self._bos() + _encode(self.tokenizer, text)

    def _render_next(self, user: str) -> list[int]:
        """Tokens that follow the conversation so far for one more user message."""
        if not self.template:
            return _encode(self.tokenizer, user)
        text = ""
        if self.conversation and self.conversation[-1] not in self.stop_ids:
            text += self.template.end_of_turn  # the last answer was cut (max tokens): close its turn
        if not self.conversation:
            return self._render_full([ChatTurn("user", user)])
        text += self.template.render_message("user", user) + self.template.generation_prompt
        return _encode(self.tokenizer, text)

    def send(self, user: str) -> Iterator[str]:
        """Send one user message; yields the answer's text pieces. Turn stats land in self.turns."""
        ctx = self.identity.context_len
        clamped = self.clamped
        # room kept for the answer when deciding what history fits; over the device limit, half the context
        budget = ctx // 2 if clamped else self.sampling["max_new_tokens"]
        wanted = self.conversation + self._render_next(user)
        self.turns.append(ChatTurn("user", user))
        stream = None
        try:
            continue_seq = bool(self.device_tokens) and wanted[:len(self.device_tokens)] == self.device_tokens
            if len(wanted) + budget > ctx or not continue_seq:
                continue_seq = False
                turns = list(self.turns)
                wanted = self._render_full(turns)
                while len(wanted) + budget > ctx and len(turns) > 1:
                    turns = turns[1:]  # drop the oldest turns until the rest fits
                    wanted = self._render_full(turns)
                if len(wanted) + budget > ctx:
                    raise EdgekitError(f"the message needs {len(wanted)} tokens plus {budget} for the answer; the "
                                       f"device context holds {ctx}",
                                       fix="send a shorter message or lower max tokens")
                self.device_tokens = []
            prompt = wanted[len(self.device_tokens):]
            # a clamped answer gets all the room left: the device stops at the context's end (pos reaches ctx
            # after ctx - len(wanted) + 1 tokens, the last sampled token never being run)
            max_new = min(self.sampling["max_new_tokens"], ctx - len(wanted) + 1) if clamped \
                else self.sampling["max_new_tokens"]
            stream = stream_generate(self.client, self.tokenizer, prompt, stop_at_eos=True, stop_ids=self.stop_ids,
                                     continue_sequence=continue_seq, seed=self.seed + len(self.turns),
                                     **{**self.sampling, "max_new_tokens": max_new})
            yield from stream
        except BaseException as exc:
            if stream is None and isinstance(exc, EdgekitError):
                self.turns.pop()  # refused before anything was sent: not part of the conversation
                raise
            # Ctrl-C, a link error or the caller closing us mid-answer: the generation was cancelled (or the
            # device is gone) and what its KV cache holds is unknown, so the next turn starts fresh
            self.device_tokens = []
            done = None
            if stream is not None:
                self.conversation = wanted + stream.token_ids
                done = stream.generation.done if stream.generation is not None else None
            reason = "cancelled" if isinstance(exc, (KeyboardInterrupt, GeneratorExit)) else "error"
            self.turns.append(ChatTurn("assistant", stream.text.strip() if stream is not None else "",
                                       done.to_dict() if done else None, reason))
            self.save()
            raise
        done = stream.done
        answer = stream.token_ids
        # the device holds prompt + answer up to seq_len (the last sampled token is never run)
        held = self.device_tokens + prompt + answer
        self.device_tokens = held[:done.seq_len] if done else []
        if stream.stopped_by is not None:
            answer = answer[:answer.index(stream.stopped_by) + 1]
        self.conversation = wanted + answer
        if stream.stopped_by is not None:
            reason = "eos"  # the template's end of turn: the host stopped the device there
        elif done is None:
            reason = "error"
        elif clamped and done.reason in ("max_tokens", "context_full"):
            reason = "device_limit"
        else:
            reason = done.reason
        self.turns.append(ChatTurn("assistant", stream.text.strip(), done.to_dict() if done else None, reason))
        self.save()

    def totals(self) -> dict:
        """The session's device work so far: tokens and device time over every answer (cancelled ones too)."""
        answers = [t.stats for t in self.turns if t.role == "assistant" and t.stats]
        keys = ("prompt_tokens", "generated_tokens", "prefill_us", "decode_us", "prefill_cycles", "decode_cycles")
        out = {k: sum(int(a.get(k, 0)) for a in answers) for k in keys}
        out["answers"] = sum(1 for t in self.turns if t.role == "assistant")
        out["cancelled"] = sum(1 for t in self.turns if t.stop_reason == "cancelled")
        return out

    def reset(self) -> None:
        self.turns.clear()
        self.conversation = []
        self.device_tokens = []
        self.client.reset()

    def save(self, path: str | Path | None = None) -> Path | None:
        """Write the transcript (JSON) atomically to path, or to the session's transcript path if it has one."""
        path = Path(path) if path is not None else self.transcript
        if path is None:
            return None
        data = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self._started)),
            "device": self.identity.to_dict(),
            "mode": self.mode,
            "system": self.system,
            "sampling": {**self.sampling, "seed": self.seed},
            "device_limit": self.device_limit,
            "turns": [t.to_dict() for t in self.turns],
        }
        write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return path
