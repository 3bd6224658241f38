"""What would fit, when a model does not fit a board: computed by planning the alternatives, never guessed.

- formats: the first format pair (planner preference order: fastest first) that fits at the asked context,
  when the user pinned --format/--embedding to ones that do not;
- context: the longest context that fits, searched exactly (the plan grows with the context, so a binary
  search over 1..ctx-1 finds it) over every allowed format pair; ties go to the faster pair;
- boards: every other board the model fits at the asked context, fastest first (the bandwidth-bound
  ms/token estimate of its plan), then by name.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from edgekit.boards import Board, all_boards
from edgekit.model import Model, ModelConfig
from edgekit.pack.packer import PackChoice
from edgekit.plan.planner import Plan, _choices, plan_fixed

BOARDS_NAMED = 5  # boards named in the one-line advice; --json lists them all


@dataclass
class BoardFit:
    board: Board
    plan: Plan

    def to_dict(self) -> dict:
        return {"board": self.board.name, "verification": self.board.verification,
                "ternary": self.plan.choice.ternary, "embedding": self.plan.choice.embedding,
                "est_ms_per_token_bandwidth_bound": round(self.plan.est_ms_per_token(), 3)}


@dataclass
class Suggestions:
    formats: PackChoice | None = None        # fits at the asked context, unlike the formats asked for
    ctx: int = 0                              # longest context that fits (0: none shorter does)
    ctx_formats: PackChoice | None = None     # the formats it fits with
    boards: list[BoardFit] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The advice, one clause each, ready for `fix=` or a bullet list."""
        out = []
        if self.formats:
            out.append(f"use --format {self.formats.ternary} --embedding {self.formats.embedding}")
        if self.ctx and self.ctx_formats:
            out.append(f"use a shorter context: --ctx {self.ctx} is the longest that fits (with --format "
                       f"{self.ctx_formats.ternary} --embedding {self.ctx_formats.embedding})")
        if self.boards:
            named = ", ".join(f"{b.board.name} (≥ {b.plan.est_ms_per_token():.2g} ms/token)"
                              for b in self.boards[:BOARDS_NAMED])
            more = len(self.boards) - BOARDS_NAMED
            out.append(f"use a board it fits, fastest first: {named}" + (f" and {more} more" if more > 0 else ""))
        return out

    def to_dict(self) -> dict:
        return {
            "formats": ({"ternary": self.formats.ternary, "embedding": self.formats.embedding}
                        if self.formats else None),
            "longest_ctx": ({"ctx": self.ctx, "ternary": self.ctx_formats.ternary,
                             "embedding": self.ctx_formats.embedding} if self.ctx and self.ctx_formats else None),
            "boards": [b.to_dict() for b in self.boards],
        }


def longest_fitting_ctx(config: ModelConfig, board: Board, choice: PackChoice, upper: int,
                        placement: str = "persistent") -> int:
    """The longest context in 1..upper that fits with these formats; 0 if not even 1 does."""
    lo, hi = 0, upper
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if plan_fixed(config, board, mid, choice, placement).fits:
            lo = mid
        else:
            hi = mid - 1
    return lo


def first_fitting_plan(config: ModelConfig, board: Board, ctx: int, choices: list[PackChoice],
                       placement: str = "persistent") -> Plan | None:
    for choice in choices:
        plan = plan_fixed(config, board, ctx, choice, placement)
        if plan.fits:
            return plan
    return None


def suggest(model: Model | ModelConfig, board: Board, *, ctx: int | None = None, ternary: str | None = None,
            embedding: str | None = None, placement: str = "persistent", boards: list[Board] | None = None
            ) -> Suggestions:
    """Alternatives for a (model, board, context, formats) that does not fit. Given a Model, its float values
    decide which formats are lossless (planner._choices); given a config, only f32 is. `boards`: the boards to
    try instead (default: every shipped profile)."""
    config = model.config if isinstance(model, Model) else model
    ctx = ctx or config.max_seq_len
    allowed = _choices(model, ternary, embedding)
    out = Suggestions()
    others = [c for c in _choices(model, None, None) if c not in allowed]
    plan = first_fitting_plan(config, board, ctx, others, placement)
    out.formats = plan.choice if plan else None
    for choice in allowed:
        fit = longest_fitting_ctx(config, board, choice, ctx - 1, placement)
        if fit > out.ctx:
            out.ctx, out.ctx_formats = fit, choice
    fits = []
    for other in (all_boards() if boards is None else boards):
        if other.name == board.name:
            continue
        plan = first_fitting_plan(config, other, ctx, allowed, placement)
        if plan is not None:
            fits.append(BoardFit(other, plan))
    out.boards = sorted(fits, key=lambda b: (b.plan.est_ms_per_token(), b.board.name))
    return out
