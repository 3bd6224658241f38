"""The x86 guest runner (tests/x86_guest.py) itself: each emulated CPU model reports the CPUID MODELS says, an
AVX-512 VNNI and an AVX-512BW body give the right numbers where the model has them and a clean #UD report naming
the instruction where it does not, a CPUID dispatcher picks the body the model supports, the I/O region and the
guest's memory functions round-trip a multi-page region byte for byte, and a guest that never returns is stopped.
The guest programs are in tests/x86_guest/probes/."""
import dataclasses
import random
import struct

import pytest

import x86_guest
from cpu_features import require_tool
from x86_guest import GUEST_DIR, MODELS, build_guest, cpuid_family_model, cpuid_features, run_guest

x86_guest.require_bochscpu()

PROBES = GUEST_DIR / "probes"
AVX512_VNNI = ("-mavx512f", "-mavx512vnni")
AVX512_BW = ("-mavx512f", "-mavx512bw")
UD = 6
EVEX_PREFIX = 0x62


@pytest.fixture(scope="module")
def guests(tmp_path_factory):
    """build(name, *sources) -> image, built once per module."""
    require_tool("gcc", "objcopy", "objdump")
    images = {}

    def build(name, *sources):
        if name not in images:
            images[name] = build_guest(sources, tmp_path_factory.mktemp(name))
        return images[name]

    return build


def u8_s8_pairs(n, seed):
    """n unsigned and n signed bytes (as unsigned), random but starting with the extremes of both."""
    rng = random.Random(seed)
    edges = [(255, 127), (255, 128), (255, 127), (255, 127), (0, 128), (255, 128), (255, 128), (1, 1)]
    pairs = edges + [(rng.randrange(256), rng.randrange(256)) for _ in range(n - len(edges))]
    return bytes(a for a, _ in pairs), bytes(b for _, b in pairs)


def signed(byte):
    return byte - 256 if byte > 127 else byte


@pytest.mark.parametrize("model", sorted(MODELS))
def test_each_model_reports_the_cpuid_of_the_table(guests, model):
    result = run_guest(guests("cpuid", PROBES / "cpuid.c"), bytes(64), model).check()
    regs = struct.unpack_from("<12I", result.io)
    seen = {(1, 0): regs[0:4], (7, 0): regs[4:8], (7, 1): regs[8:12]}
    spec = MODELS[model]
    assert cpuid_family_model(seen) == (spec.family, spec.model)
    assert cpuid_features(seen) == spec.features
    # the runner's own probe (GuestResult.cpuid) saw what the compiled guest saw
    assert {k: result.cpuid[k] for k in seen} == seen
    _, ebx, ecx, edx = result.cpuid[(0, 0)]
    assert struct.pack("<3I", ebx, edx, ecx) == b"GenuineIntel"
    # what an AVX-512 dispatcher asks the OS: CPUID.1:ECX.OSXSAVE and XCR0 with the opmask and ZMM state
    assert seen[(1, 0)][2] >> 27 & 1
    assert struct.unpack_from("<Q", result.io, 48)[0] == x86_guest.XCR0_AVX512_OS


def test_the_model_table_is_what_the_intel_parts_report():
    # Fixed points from Intel's CPUID tables, so a table edit that agrees with a wrong emulator still fails here.
    assert (MODELS["skylake_x"].family, MODELS["skylake_x"].model) == (6, 0x55)
    assert (MODELS["sapphire_rapids"].family, MODELS["sapphire_rapids"].model) == (6, 0x8F)
    vnni = {name for name, spec in MODELS.items() if "avx512vnni" in spec.features}
    avx512 = {name for name, spec in MODELS.items() if "avx512bw" in spec.features}
    assert vnni == {"icelake", "tigerlake", "sapphire_rapids"}
    assert avx512 == vnni | {"skylake_x", "cannonlake"}
    assert "avxvnni" in MODELS["arrowlake"].features and "avx512f" not in MODELS["arrowlake"].features


def vnni_io(n=4096, seed=7):
    a, b = u8_s8_pairs(n, seed)
    return struct.pack("<I", n).ljust(64, b"\0") + a + b, sum(x * signed(y) for x, y in zip(a, b))


@pytest.mark.parametrize("model", ["sapphire_rapids", "icelake"])
def test_avx512_vnni_dot_product_is_exact_on_vnni_models(guests, model):
    io, expected = vnni_io()
    result = run_guest(guests("vnni", (PROBES / "vnni_dot.c", AVX512_VNNI)), io, model).check()
    assert struct.unpack_from("<i", result.io, 4)[0] == expected
    assert result.io[64:] == io[64:]  # the inputs are untouched


@pytest.mark.parametrize("model", ["cannonlake", "skylake_x"])
def test_avx512_vnni_on_a_model_without_it_is_a_clean_invalid_opcode_report(guests, model):
    io, _ = vnni_io()
    result = run_guest(guests("vnni", (PROBES / "vnni_dot.c", AVX512_VNNI)), io, model)
    assert not result.completed
    assert result.vector == UD
    # the AVX-512F loads run on these models: the fault is the VNNI instruction itself
    assert result.site.text.startswith("vpdpbusd") and result.site.code[0] == EVEX_PREFIX
    assert result.site.symbol.startswith("dot_vnni+")
    message = result.describe()
    assert f"invalid opcode (#UD) at rip {result.rip:#x} in dot_vnni+" in message and model in message
    with pytest.raises(x86_guest.GuestFault, match=r"invalid opcode \(#UD\) at rip 0x[0-9a-f]+ in dot_vnni"):
        result.check()
    assert struct.unpack_from("<i", result.io, 4)[0] == 0  # nothing was written


def maddubs_io(mode, n=1024, seed=3):
    a, b = u8_s8_pairs(n, seed)
    expected = []
    for i in range(0, n, 2):
        s = a[i] * signed(b[i]) + a[i + 1] * signed(b[i + 1])
        expected.append(max(-32768, min(32767, s)))
    return struct.pack("<III", mode, 0, n).ljust(64, b"\0") + a + b, n, expected


MADDUBS_SOURCES = ((PROBES / "maddubs_main.c", ()), (PROBES / "maddubs_avx512bw.c", AVX512_BW),
                   (PROBES / "maddubs_avx2.c", ("-mavx2",)))


@pytest.mark.parametrize("model, mode, body", [
    ("cannonlake", 0, 1),    # the dispatcher picks AVX-512BW where the model has it
    ("arrowlake", 0, 2),     # ... and AVX2 on a model without AVX-512
    ("arrowlake", 2, 2),     # the AVX2 body really is AVX2 code: built without AVX-512 flags, it runs here
    ("cannonlake", 2, 2),
])
def test_avx512bw_and_avx2_bodies_and_the_dispatcher(guests, model, mode, body):
    io, n, expected = maddubs_io(mode)
    result = run_guest(guests("maddubs", *MADDUBS_SOURCES), io, model, io_size=len(io) + n).check()
    assert struct.unpack_from("<I", result.io, 4)[0] == body
    assert list(struct.unpack_from(f"<{n // 2}h", result.io, 64 + 2 * n)) == expected


def test_avx512bw_forced_on_a_model_without_avx512_faults_in_that_body(guests):
    io, n, _ = maddubs_io(mode=1)
    result = run_guest(guests("maddubs", *MADDUBS_SOURCES), io, "arrowlake", io_size=len(io) + n)
    assert result.vector == UD
    assert result.site.symbol.startswith("maddubs_avx512bw+") and result.site.code[0] == EVEX_PREFIX


MEMCPY, MEMMOVE, MEMSET, MEMCMP, STRCMP, STRLEN = 1, 2, 3, 4, 5, 6


def apply_ops(io: bytearray, ops):
    """What memory_ops.c does to the region, in Python."""
    for i, (op, x, y, n) in enumerate(ops):
        if op in (MEMCPY, MEMMOVE):
            io[x:x + n] = bytes(io[y:y + n])
        elif op == MEMSET:
            io[x:x + n] = bytes([y]) * n
        elif op == MEMCMP:
            a, b = bytes(io[x:x + n]), bytes(io[y:y + n])
            struct.pack_into("<q", io, 8 + 32 * i, (a > b) - (a < b))
        elif op == STRCMP:  # bytes order as strcmp does: unsigned, a proper prefix first
            a, b = bytes(io[x:io.index(0, x)]), bytes(io[y:io.index(0, y)])
            struct.pack_into("<q", io, 8 + 32 * i, (a > b) - (a < b))
        elif op == STRLEN:
            struct.pack_into("<q", io, 8 + 32 * i, io.index(0, x) - x)


def test_a_multi_page_io_region_and_the_guest_memory_functions_round_trip(guests):
    size = 3 << 20
    payload = 2 << 20  # the last MiB is not sent: the guest must find it zeroed
    ops = [
        (MEMCPY, 1572867, 60001, (1 << 20) + 13),  # unaligned, across 257 pages
        (MEMMOVE, 10300, 10100, 5000),             # overlapping, destination above the source
        (MEMMOVE, 20000, 20100, 5000),             # overlapping, destination below the source
        (MEMSET, size - 7001, 0xA5, 7000),         # up to the region's last byte but one
        (MEMCMP, 1572867, 60001, (1 << 20) + 13),  # equal after the copy
        (MEMCMP, 1000, 40000, 64),                 # random bytes: a sign either way
        (MEMCMP, size - 7001, size - 7000, 6999),  # equal: the memset run
        (MEMCMP, 2 << 20, size - 100, 100),        # zeros against 0xA5
        (MEMCMP, size - 100, 2 << 20, 100),
        (STRCMP, 30000, 30010, 0),                 # equal strings
        (STRCMP, 30000, 30020, 0),                 # "edgekit" < "edgekiu"
        (STRCMP, 30000, 30030, 0),                 # "edgekit" > its prefix "edge"
        (STRCMP, 30040, 30000, 0),                 # 0xff > "e": bytes compare unsigned
        (STRLEN, 30000, 0, 0),
        (STRLEN, 30050, 0, 0),                     # the empty string
        (STRLEN, 40000, 0, 0),                     # random bytes up to the first zero
    ]
    header = struct.pack("<Q", len(ops)) + b"".join(struct.pack("<4Q", *op) for op in ops)
    assert len(header) < 1000  # no operation may write into the list the guest is reading
    rng = random.Random(11)
    io = bytearray(header + rng.randbytes(payload - len(header)))
    for at, text in ((30000, b"edgekit"), (30010, b"edgekit"), (30020, b"edgekiu"), (30030, b"edge"),
                     (30040, b"\xffa"), (30050, b"")):
        io[at:at + len(text) + 1] = text + b"\0"
    result = run_guest(guests("memory_ops", PROBES / "memory_ops.c"), bytes(io), "cannonlake", io_size=size).check()
    expected = bytearray(io) + bytearray(size - payload)
    apply_ops(expected, ops)
    assert len(result.io) == size
    assert result.io == bytes(expected)
    answers = [struct.unpack_from("<q", result.io, 8 + 32 * i)[0] for i in range(4, len(ops))]
    assert answers[:9] == [0, answers[1], 0, -1, 1, 0, -1, 1, 1] and answers[9:11] == [7, 0]


def test_a_write_past_the_io_region_is_a_page_fault_report(guests):
    ops = [(MEMSET, 4000, 0x5A, 200)]  # the region is one page: bytes 4096.. are not mapped
    io = struct.pack("<Q", len(ops)) + b"".join(struct.pack("<4Q", *op) for op in ops)
    result = run_guest(guests("memory_ops", PROBES / "memory_ops.c"), io, "cannonlake", io_size=4096)
    assert result.vector == 14 and result.cr2 == x86_guest.IO_BASE + 4096
    assert result.error_code == 0b110  # a user-mode write to a page that is not present
    assert result.site.symbol.startswith("memset+")
    assert f"page fault (#PF) at rip {result.rip:#x} in memset+" in result.describe()
    assert f"address {x86_guest.IO_BASE + 4096:#x}" in result.describe()
    assert result.io[4000:4096] == b"\x5a" * 96  # what it wrote before the fault came back


def test_a_guest_that_never_returns_is_stopped_by_the_timeout(guests):
    with pytest.raises(x86_guest.GuestTimeout, match=r"did not return within 3 s on the icelake model"):
        run_guest(guests("forever", PROBES / "forever.c"), b"", "icelake", timeout=3)


def test_a_wrong_model_index_is_refused_with_what_the_guest_saw(guests, monkeypatch):
    # as if another bochscpu-python numbered its models differently: index 30 is Sapphire Rapids here
    monkeypatch.setitem(MODELS, "skylake_x", dataclasses.replace(MODELS["skylake_x"], bochs_index=30))
    with pytest.raises(x86_guest.GuestError, match=r"index 30 is not skylake_x: .*family 6 model 0x8f"):
        run_guest(guests("cpuid", PROBES / "cpuid.c"), bytes(64), "skylake_x")


@pytest.mark.parametrize("source,says", [
    ('#include "ek_guest.h"\nvoid ek_guest_main(uint8_t *io) { io[0] = undeclared_name; }\n',
     r"(?s)compiling .*bad\.c failed.*undeclared_name"),          # the compiler's own output
    ("int not_the_entry;\n", r"(?s)linking .*ek_guest_main"),   # no entry point: the linker says which
], ids=["compiler-error", "no-entry-point"])
def test_a_guest_that_does_not_build_raises_with_the_tool_s_output(tmp_path, source, says):
    require_tool("gcc")
    bad = tmp_path / "bad.c"
    bad.write_text(source)
    with pytest.raises(x86_guest.GuestBuildError, match=says):
        build_guest([bad], tmp_path / "out")


def test_the_skip_is_only_for_a_missing_package_and_names_the_install(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bochscpu" else True)
    reason = r"bochscpu-python is not installed \(pip install bochscpu-python\)"
    with pytest.raises(pytest.skip.Exception, match=reason):
        x86_guest.require_bochscpu()
    monkeypatch.undo()
    x86_guest.require_bochscpu()  # installed here: no skip
