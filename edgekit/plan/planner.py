"""The planner: fit a model to a board's memory.

Decides the storage formats, which image part lives in which memory region at which address, where the working
arena (KV cache + activations) goes, and what each token costs in bytes read. Everything is computed on the host
(nanopb's habit): the generator turns a Plan into linker script, config header and image files verbatim.

Placement rules, per region (addresses grow upwards):
    [ linked code/data/stack/arena (the linker's share) | ... free ... | image parts at the top, 4 KiB aligned ]
so the linker script simply ends each MEMORY region where the images begin.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from edgekit.boards import Board, MemoryRegion
from edgekit.errors import EdgekitError
from edgekit.model import Model, ModelConfig, tensor_layout
from edgekit.pack.formats import FLOAT_FORMATS, INTEGER_HEAD_MAX_COLS, Q4I_BLOCK, TERNARY_FORMATS, exact_float_formats
from edgekit.pack.image import ENTRY_SIZE, HEADER_SIZE, SECTION_ALIGN
from edgekit.pack.packer import PackChoice
from edgekit.plan.arena import ARENA_ALIGN, PREFILL_MAX_CHUNK, arena_layout, prefill_scratch_bytes

IMAGE_ALIGN = 4096  # image parts start on a flash-sector / page boundary
# Space kept for the firmware itself where it shares a region with images. A measured ELF must fit in it;
# `edgekit build` checks the real size against this reserve.
FIRMWARE_RESERVE_MCU = 256 * 1024
FIRMWARE_RESERVE_OS = 16 * 1024 * 1024  # process image, libc, threads' stacks
DATA_RESERVE_MCU = 32 * 1024  # .data/.bss of the runtime and port (ring buffers, server state)

# Ternary formats tried in order: fastest decode first, smallest last. For each, the float tensors (embedding,
# untied lm_head) take the smallest format that is lossless for this checkpoint (checked value by value, see
# FloatFidelity); only when none of those fits do they step down to lossy ones, and the plan says so.
TERNARY_PREFERENCE = ("i2", "t158")
LOSSY_STEPS = ("f16", "q8row")  # after the lossless choice, in order; each only where it is smaller
# Float tensors whose format the planner chooses (norms are always f32).
PLANNED_FLOAT_ROLES = ("tok_embeddings", "lm_head")


@dataclass(frozen=True)
class FloatFidelity:
    """For each planned float tensor, the formats that store it exactly (smallest first; f32 always). Built from
    a Model's values; from a bare config nothing is known and f32 is the only format taken as exact."""
    exact: dict[str, tuple[str, ...]]
    checked: bool

    @classmethod
    def unchecked(cls) -> FloatFidelity:
        return cls({role: ("f32",) for role in PLANNED_FLOAT_ROLES}, checked=False)

    @classmethod
    def of(cls, model: Model | ModelConfig) -> FloatFidelity:
        if not isinstance(model, Model):
            return cls.unchecked()
        embedding = exact_float_formats(model.embedding.row_chunks())
        head = embedding if model.config.tie_word_embeddings else exact_float_formats(model.lm_head.row_chunks())
        return cls({"tok_embeddings": embedding, "lm_head": head}, checked=True)

    def lossless(self, role: str) -> str:
        return self.exact[role][0]

    def lossy_roles(self, config: ModelConfig, choice: PackChoice) -> list[str]:
        roles = PLANNED_FLOAT_ROLES[:1] if config.tie_word_embeddings else PLANNED_FLOAT_ROLES
        return [role for role in roles if choice.format_for(role) not in self.exact[role]]


@dataclass
class SectionPlacement:
    name: str
    role: str
    format: str
    size_bytes: int
    part: int
    offset: int  # within the part's file
    read_per_token_bytes: int


@dataclass
class ImagePart:
    index: int
    region: str
    address: int  # absolute address on the device (0 on OS boards: a file the process maps)
    size_bytes: int
    sections: list[str] = field(default_factory=list)

    @property
    def file_name(self) -> str:
        return f"model.part{self.index}.ekm"


@dataclass
class RegionUse:
    region: MemoryRegion
    firmware_bytes: int = 0
    data_bytes: int = 0
    arena_bytes: int = 0
    image_bytes: int = 0
    read_per_token_bytes: int = 0

    @property
    def used_bytes(self) -> int:
        return self.firmware_bytes + self.data_bytes + self.arena_bytes + self.image_bytes

    @property
    def free_bytes(self) -> int:
        return self.region.size_bytes - self.used_bytes


@dataclass
class Plan:
    board: Board
    config: ModelConfig
    ctx: int
    choice: PackChoice
    fits: bool
    regions: list[RegionUse]
    parts: list[ImagePart]
    sections: list[SectionPlacement]
    arena_region: str | None
    arena_bytes: int
    arena_buffers: dict[str, int]
    shortfall_bytes: int = 0
    problem: str = ""
    suggestions: list[str] = field(default_factory=list)
    place: str = "persistent"  # where image parts went first: see PLACEMENTS
    lossless: dict[str, str] = field(default_factory=dict)  # float role -> smallest lossless format (values checked)
    lossy: list[str] = field(default_factory=list)  # one line per float tensor stored lossily, and why
    faster: list[str] = field(default_factory=list)  # the integer heads that fit too: the fast choice, offered
    prefill_chunk: int = 1  # bare metal: prompt tokens per prefill chunk the arena's scratch holds (1: one by one)
    prefill_scratch_bytes: int = 0  # of arena_bytes, the chunked prefill's scratch

    @property
    def image_bytes(self) -> int:
        return sum(p.size_bytes for p in self.parts)

    @property
    def read_per_token_bytes(self) -> int:
        return sum(r.read_per_token_bytes for r in self.regions)

    def est_ms_per_token(self) -> float:
        """Lower bound from memory bandwidth alone: each region's bytes read / its read bandwidth."""
        return 1e3 * sum(r.read_per_token_bytes / r.region.read_bw_bytes_per_s for r in self.regions
                         if r.region.read_bw_bytes_per_s)

    def placement(self) -> dict[str, tuple[int, int]]:
        """name -> (part, region index), as edgekit.pack.packer.pack_model takes it."""
        region_index = {r.region.name: i for i, r in enumerate(self.regions)}
        part_region = {p.index: region_index[p.region] for p in self.parts}
        return {s.name: (s.part, part_region[s.part]) for s in self.sections}

    def to_dict(self) -> dict:
        return {
            "board": self.board.name, "fits": self.fits, "ctx": self.ctx, "place": self.place,
            "formats": {"ternary": self.choice.ternary, "embedding": self.choice.embedding,
                        "lm_head": None if self.config.tie_word_embeddings else self.choice.lm_head},
            "image_bytes": self.image_bytes, "arena_bytes": self.arena_bytes, "arena_region": self.arena_region,
            "arena_buffers": self.arena_buffers,
            "read_per_token_bytes": self.read_per_token_bytes,
            "est_ms_per_token_bandwidth_bound": round(self.est_ms_per_token(), 3),
            "regions": [{"name": r.region.name, "kind": r.region.kind, "base": r.region.base,
                         "size_bytes": r.region.size_bytes, "firmware_bytes": r.firmware_bytes,
                         "data_bytes": r.data_bytes, "arena_bytes": r.arena_bytes, "image_bytes": r.image_bytes,
                         "used_bytes": r.used_bytes, "free_bytes": r.free_bytes,
                         "read_per_token_bytes": r.read_per_token_bytes} for r in self.regions],
            "parts": [{"index": p.index, "file": p.file_name, "region": p.region, "address": p.address,
                       "size_bytes": p.size_bytes, "sections": len(p.sections)} for p in self.parts],
            "shortfall_bytes": self.shortfall_bytes, "problem": self.problem, "suggestions": self.suggestions,
            "lossless_formats": self.lossless, "lossy": self.lossy, "faster": self.faster,
            "prefill_chunk": self.prefill_chunk, "prefill_scratch_bytes": self.prefill_scratch_bytes,
        }


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def section_sizes(config: ModelConfig, choice: PackChoice) -> list[tuple[str, str, int, int]]:
    """(name, format, bytes, bytes read per decoded token) for every section, in image order."""
    tfmt = TERNARY_FORMATS[choice.ternary]
    out = []
    for name, role, _layer, kind, shape in tensor_layout(config):
        if kind == "ternary":
            size = tfmt.packed_size(*shape)
            out.append((name, tfmt.name, size, size))
            continue
        fname = choice.format_for(role)
        ffmt = FLOAT_FORMATS[fname]
        size = ffmt.packed_size(shape)
        read = size
        if role == "tok_embeddings":
            # one row per token; tied weights are read whole again as the lm_head
            row = ffmt.packed_size((1, shape[1]))
            read = size if config.tie_word_embeddings else row
        out.append((name, fname, size, read))
    return out


# Where image parts go, in order of preference among the regions that can hold them:
#   persistent: non-volatile regions first (the model survives a power cycle and RAM stays free), fastest first;
#   fastest:    fastest first, RAM included, where the board's loader fills RAM (QEMU's loader, an MPS3's
#               SD-card images, a Linux file): every section is read once per token, so bytes in fast
#               memory are time saved.
PLACEMENTS = ("persistent", "fastest")
PLACEMENT_HELP = ("Where image parts go: persistent = non-volatile regions first (survives power-off); fastest = "
                  "fastest regions first, RAM included where the board's loader fills it.")


def _image_candidates(board: Board, placement: str = "persistent") -> list[MemoryRegion]:
    """Regions an image part can live in, in the order `placement` fills them."""
    usable = [r for r in board.memory if r.holds_images]
    if placement == "fastest":
        return sorted(usable, key=lambda r: (-r.read_bw_bytes_per_s, r.is_ram, r.base))
    return sorted(usable, key=lambda r: (r.is_ram, -r.read_bw_bytes_per_s, r.base))


def _arena_candidates(board: Board) -> list[MemoryRegion]:
    """Writable RAM, fastest first; the board's default arena region wins ties."""
    default = board.layout.arena if board.layout else None
    # An arena linked first into a bare-metal region at address 0 (an ITCM that holds no code) would start at
    # NULL, which the runtime rightly refuses; code first (the text region) keeps it off 0.
    text = board.layout.text if board.layout else None
    ram = [r for r in board.memory if r.is_ram and r.writable
           and not (board.os == "none" and r.base == 0 and r.name != text)]
    return sorted(ram, key=lambda r: (-r.read_bw_bytes_per_s, r.name != default, r.base))


def plan_fixed(config: ModelConfig, board: Board, ctx: int, choice: PackChoice,
               placement: str = "persistent") -> Plan:
    """Plan with the given formats and context; `fits` says whether it worked (never raises for size)."""
    uses = {r.name: RegionUse(r) for r in board.memory}
    bare_metal = board.os == "none"
    _reserve_firmware(board, uses)

    ternary_used = {choice.ternary}
    layout = arena_layout(config, ctx, ternary_used)
    arena_bytes = layout.size_bytes
    kv_read = 2 * config.num_layers * ctx * config.kv_dim * 4  # whole cache at full context
    plan = Plan(board, config, ctx, choice, False, list(uses.values()), [], [], None, arena_bytes,
                {name: size for name, (_, size) in layout.buffers.items()}, place=placement)
    problems = []
    for region in _arena_candidates(board):
        if uses[region.name].free_bytes >= arena_bytes:
            uses[region.name].arena_bytes += arena_bytes
            uses[region.name].read_per_token_bytes += kv_read
            plan.arena_region = region.name
            break
    if plan.arena_region is None:
        best = max((uses[r.name].free_bytes for r in _arena_candidates(board)), default=0)
        plan.shortfall_bytes += arena_bytes - best
        problems.append(f"the arena ({arena_bytes:,} bytes for context {ctx}) fits in no RAM region "
                        f"(largest free: {best:,} bytes)")

    sections = section_sizes(config, choice)
    candidates = _image_candidates(board, placement)
    i = 0
    for region in candidates:
        if i == len(sections):
            break
        free = uses[region.name].free_bytes
        # how many of the next sections fit here as one part (header + table + 64-aligned payloads)
        count, payload = 0, 0
        for j in range(i, len(sections)):
            payload += _align(sections[j][2], SECTION_ALIGN)
            size = _align(HEADER_SIZE + (j - i + 1) * ENTRY_SIZE, SECTION_ALIGN) + payload
            if _align(size, IMAGE_ALIGN) > free:
                break
            count = j - i + 1
        if count == 0:
            continue
        part = ImagePart(len(plan.parts), region.name, 0, 0)
        offset = _align(HEADER_SIZE + count * ENTRY_SIZE, SECTION_ALIGN)
        for name, fmt, size, read in sections[i:i + count]:
            role = name.split(".", 1)[-1] if name.startswith("L") else name
            plan.sections.append(SectionPlacement(name, role, fmt, size, part.index, offset, read))
            part.sections.append(name)
            uses[region.name].read_per_token_bytes += read
            offset += _align(size, SECTION_ALIGN)
        part.size_bytes = offset
        reserved = _align(part.size_bytes, IMAGE_ALIGN)
        uses[region.name].image_bytes += reserved
        # images sit at the top of the region, so the linker's share stays one contiguous block at the bottom
        part.address = region.base + region.size_bytes - uses[region.name].image_bytes if bare_metal else 0
        plan.parts.append(part)
        i += count
    if i < len(sections):
        missing = sum(_align(s[2], SECTION_ALIGN) for s in sections[i:]) + HEADER_SIZE + ENTRY_SIZE * (len(sections) - i)
        free = sum(max(uses[r.name].free_bytes, 0) for r in candidates)
        plan.shortfall_bytes += max(missing - free, SECTION_ALIGN)
        problems.append(f"{len(sections) - i} section(s) from {sections[i][0]} on ({missing:,} bytes) fit in no "
                        f"region that can hold images ({free:,} bytes free there)")
    plan.problem = "; ".join(problems)
    plan.fits = not problems
    if plan.fits and bare_metal and _batched_prefill(board, choice.ternary):
        _budget_prefill_scratch(plan, uses[plan.arena_region], layout)
    return plan


# The ISA features with batched prefill matmuls (each weight read once per chunk), per ternary format:
# firmware/kernels/ek_ternary_matmul.c. tl always prefills token by token (its one pair-sum table).
BATCHED_PREFILL = {"i2": ("mve", "neon", "dotprod", "avx2"), "t158": ("mve", "neon", "dotprod")}


def _batched_prefill(board: Board, ternary: str) -> bool:
    return any(board.cpu.has(feature) for feature in BATCHED_PREFILL.get(ternary, ()))


def _budget_prefill_scratch(plan: Plan, use: RegionUse, layout) -> None:
    """Grow a fitting bare-metal plan's arena by the scratch of the largest prefill chunk its region still holds:
    the firmware gives the model the arena beyond its layout, and a chunk reads each weight once for all its
    tokens. Nothing where too little is left (the prompt then goes token by token)."""
    chunk = PREFILL_MAX_CHUNK
    while chunk >= 2:
        need = _align(prefill_scratch_bytes(layout, chunk), ARENA_ALIGN)
        if use.free_bytes >= need:
            use.arena_bytes += need
            plan.arena_bytes += need
            plan.prefill_chunk, plan.prefill_scratch_bytes = chunk, need
            return
        chunk //= 2


def _reserve_firmware(board: Board, uses: dict[str, RegionUse]) -> None:
    """Room for the firmware itself: code where the board boots from, data/stack in RAM."""
    if board.os != "none":
        biggest = max(board.memory, key=lambda r: r.size_bytes)
        uses[biggest.name].firmware_bytes += FIRMWARE_RESERVE_OS
        return
    if board.layout:
        uses[board.layout.text].firmware_bytes += FIRMWARE_RESERVE_MCU
        uses[board.layout.data].data_bytes += DATA_RESERVE_MCU
        uses[board.layout.stack].data_bytes += board.layout.stack_bytes
        return
    # framework ports (Arduino, Pico SDK, STM32Cube) link themselves: code in the first flash region,
    # data in the largest internal RAM
    flash = [r for r in board.memory if r.kind in ("flash", "xip-flash")]
    ram = [r for r in board.memory if r.kind in ("sram", "tcm")]
    if flash:
        uses[flash[0].name].firmware_bytes += FIRMWARE_RESERVE_MCU
    if ram:
        uses[max(ram, key=lambda r: r.size_bytes).name].data_bytes += DATA_RESERVE_MCU


def _choices(config: ModelConfig | Model | None, ternary: str | None, embedding: str | None,
             fidelity: FloatFidelity | None = None) -> list[PackChoice]:
    """Format choices to try, in order: the lossless float formats with each ternary format, then each lossy
    step (where it is smaller than the level before) with each ternary format. An explicit embedding format is
    the only float choice. Without `fidelity`, from `config` (a Model's values are checked)."""
    fidelity = fidelity or FloatFidelity.of(config)
    if embedding:
        levels = [(embedding, embedding)]
    else:
        levels = [(fidelity.lossless("tok_embeddings"), fidelity.lossless("lm_head"))]
        for step in LOSSY_STEPS:
            bits = FLOAT_FORMATS[step].bits_per_value
            level = tuple(step if bits < FLOAT_FORMATS[f].bits_per_value else f for f in levels[-1])
            if level != levels[-1]:
                levels.append(level)
    return [PackChoice(t, emb, head) for emb, head in levels for t in ([ternary] if ternary else TERNARY_PREFERENCE)]


# (ternary, embedding) pairs in the order a plan from a bare config tries them.
FORMAT_PREFERENCE = tuple((c.ternary, c.embedding) for c in _choices(None, None, None, FloatFidelity.unchecked()))


def _lossy_notes(plan: Plan, fidelity: FloatFidelity, embedding: str | None) -> list[str]:
    notes = []
    for role in fidelity.lossy_roles(plan.config, plan.choice):
        fmt, lossless = plan.choice.format_for(role), fidelity.lossless(role)
        if not fidelity.checked:
            notes.append(f"{role} stored as {fmt}: may be lossy, the values were not checked (planned from the "
                         "config alone)")
            continue
        why = f"asked for with --embedding ({lossless} is lossless)" if embedding else \
            f"{lossless}, the smallest lossless format, does not fit"
        notes.append(f"{role} stored as {fmt}, which is lossy for this checkpoint: {why}")
    return notes


def _faster_heads(plan: Plan, placement: str) -> list[str]:
    """The integer-head formats (never chosen on their own: they are lossy) that fit beside `plan`'s ternary format
    and read fewer bytes per token than its head, smallest first, each as one line saying how to choose it."""
    config, lines = plan.config, []
    head_now = plan.choice.embedding if config.tie_word_embeddings else plan.choice.lm_head
    for fmt in sorted(INTEGER_HEAD_MAX_COLS, key=lambda f: FLOAT_FORMATS[f].bits_per_value):
        if FLOAT_FORMATS[fmt].bits_per_value >= FLOAT_FORMATS[head_now].bits_per_value:
            continue
        if config.hidden_size > INTEGER_HEAD_MAX_COLS[fmt] or (fmt == "q4i" and config.hidden_size % Q4I_BLOCK):
            continue
        fast = plan_fixed(config, plan.board, plan.ctx, PackChoice(plan.choice.ternary, fmt, fmt), placement)
        if fast.fits and fast.read_per_token_bytes < plan.read_per_token_bytes:
            lines.append(f"--embedding {fmt}: {fast.read_per_token_bytes:,} bytes read per token instead of "
                         f"{plan.read_per_token_bytes:,} (a lossy integer lm_head: check it with `edgekit validate`)")
    return lines


def plan_model(config: ModelConfig | Model, board: Board, *, ctx: int | None = None, ternary: str | None = None,
               embedding: str | None = None, placement: str = "persistent", suggest_boards: bool = True) -> Plan:
    """The best plan for this model on this board: the first format choice that fits (fastest ternary format, the
    smallest lossless float formats, then lossy float formats, see _choices), image parts placed per `placement`
    (PLACEMENTS). Given a Model, its embedding and head values are checked to find the lossless float formats;
    given a config alone, only f32 counts as lossless. `lossy` in the result names every float tensor stored lossily.

    When nothing fits, the returned plan has fits=False, the shortfall of the smallest choice and suggestions.
    """
    model = config
    if isinstance(config, Model):
        config = config.config
    if ternary and ternary not in TERNARY_FORMATS:
        raise EdgekitError(f"unknown ternary format {ternary!r}", fix=f"choose one of {', '.join(TERNARY_FORMATS)}")
    if embedding and embedding not in FLOAT_FORMATS:
        raise EdgekitError(f"unknown embedding format {embedding!r}", fix=f"choose one of {', '.join(FLOAT_FORMATS)}")
    if placement not in PLACEMENTS:
        raise EdgekitError(f"unknown placement {placement!r}", fix=f"choose one of {', '.join(PLACEMENTS)}")
    ctx = ctx or config.max_seq_len
    if not 1 <= ctx <= config.max_seq_len:
        raise EdgekitError(f"--ctx {ctx} is outside 1..{config.max_seq_len} (the model's context length)")
    fidelity = FloatFidelity.of(model)
    choices = _choices(config, ternary, embedding, fidelity)
    attempts = []
    for c in choices:  # the first that fits wins: no need to plan the smaller ones
        attempts.append(plan_fixed(config, board, ctx, c, placement))
        if attempts[-1].fits:
            break
    for p in attempts:
        p.lossless = {role: fidelity.lossless(role) for role in fidelity.exact} if fidelity.checked else {}
        p.lossy = _lossy_notes(p, fidelity, embedding)
    if attempts[-1].fits:
        if not embedding:
            attempts[-1].faster = _faster_heads(attempts[-1], placement)
        return attempts[-1]
    best = min(attempts, key=lambda p: p.shortfall_bytes)  # the closest miss says most about what is missing
    from edgekit.plan.suggest import suggest  # here: suggest.py builds on this module

    best.suggestions = suggest(model, board, ctx=ctx, ternary=ternary, embedding=embedding, placement=placement,
                               boards=None if suggest_boards else []).lines()
    return best
