"""Token generation on the reference engine (the host-side oracle for every device run)."""
from __future__ import annotations

from typing import Iterator

from edgekit.errors import EdgekitError
from edgekit.model import Model
from edgekit.reference.sampler import Sampler


def generate_tokens(model: Model, prompt_ids: list[int], max_new: int, sampler: Sampler, *,
                    stop_at_eos: bool = True) -> Iterator[int]:
    """Yield up to max_new generated token ids (prefill once, then one decode step per token)."""
    if not prompt_ids:
        raise EdgekitError("the prompt encodes to no tokens", fix="give a non-empty --prompt")
    engine = model.engine()
    engine.reset()
    ctx = model.config.max_seq_len
    if len(prompt_ids) >= ctx:
        raise EdgekitError(f"prompt is {len(prompt_ids)} tokens; the context is {ctx}", fix="shorten the prompt")
    logits = engine.step(prompt_ids, all_logits=False)[-1]
    eos = model.config.eos_token_id
    for i in range(max_new):
        token = sampler.sample(logits)
        yield token
        if stop_at_eos and eos is not None and token == eos:
            return
        if engine.pos >= ctx or i == max_new - 1:
            return
        logits = engine.step([token], all_logits=False)[-1]
