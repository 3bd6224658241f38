"""The peer benchmark: edgekit against llama.cpp (and any llama-bench binary) in one run, on the same weights.

    edgekit bench --suite peers [--peer-bench PATH (--peer-format i2_s|tq2_0|tq1_0 | --peer-model GGUF)]...
                                [--rounds N] [--model MODEL] [--head FMT]

One model (by default a synthetic checkpoint of the bitnet-b1.58-2B-4T shape with a tied embedding, as the
release) runs on
- edgekit: the host board's device process (the best kernels this CPU has, the planner's ternary format, the
  embedding/head format --head, by default q8row: a compact head as the peers' Q6_K is, where the planner
  would pick f32 on a host with memory to spare);
- llama.cpp through the llama-cpp-python package (the `peers` extra): the same model exported by
  `edgekit export` as TQ2_0, its tied embedding/head requantised to Q6_K by llama.cpp's own
  llama_model_quantize (as llama.cpp users run it; F16 if that fails);
- optionally llama-bench binaries the user names (bitnet.cpp, ik_llama.cpp, llama.cpp), each on the same model
  exported in the format that binary's project runs (--peer-format: i2_s for bitnet.cpp, tq2_0/tq1_0 for
  llama.cpp), its embedding/head requantised to Q6_K by the llama-quantize beside the binary when there is one;
  or on a GGUF the user names (--peer-model). Labelled by the build the binary reports and the file's types.
  llama-cpp-python is then optional: without it, that engine is left out (and logged).

Cases: decode with 1 and 2 threads (DECODE_TOKENS after a DECODE_PROMPT-token prompt) and prefill of
PREFILL_TOKENS with 2 threads. Rounds interleave the engines (round r runs every case on every engine), so a
slow minute of this shared machine hits all of them alike; round 0 is a warm-up and is dropped. Each round
also measures the read bandwidth with 1 and 2 threads (edgekit/bench/bandwidth.py).

Reported per engine and case: tokens/s min/median/max, bytes read per token, the bandwidth roofline
(median bandwidth / bytes per token) and the fraction of it reached, and edgekit's median over the engine's.
Bytes per token: edgekit's plan (`read_per_token_bytes`: ternary weights + head + norms); a GGUF's tensor
bytes less the embedding table where a separate output head exists (only one row of it is read per token).
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.bench.bandwidth import build_reader, read_bandwidth
from edgekit.bench.stats import ratio, summary
from edgekit.errors import EdgekitError

DECODE_PROMPT = 16
DECODE_TOKENS = 32
PREFILL_TOKENS = 128
DECODE_THREADS = (1, 2)
PREFILL_THREADS = 2
DEFAULT_ROUNDS = 5
CTX = 512
DEFAULT_HEAD = "q8row"
PEERS_EXTRA_HINT = "pip install 'edgekit[peers]' (llama-cpp-python; it builds llama.cpp from source)"


def cases() -> list[tuple[str, int]]:
    """(metric, threads) in the order each round runs them."""
    return [("decode", t) for t in DECODE_THREADS] + [("prefill", PREFILL_THREADS)]


def prompt_ids(n: int, vocab: int) -> list[int]:
    """A fixed prompt of n ids spread over the vocabulary (speed does not depend on which tokens)."""
    return [(7 * i + 3) % vocab for i in range(n)]


def gguf_bytes_per_token(path: Path) -> int:
    """Tensor bytes a decode step reads from a GGUF: everything but an embedding table that has its own head."""
    from edgekit.loaders.gguf_file import GGUFFile

    gf = GGUFFile(path)
    total = sum(t.nbytes for t in gf.tensors.values())
    embd = gf.tensors.get("token_embd.weight")
    if embd is not None and "output.weight" in gf.tensors:
        total -= embd.nbytes - embd.nbytes // max(embd.shape[0], 1)
    return total


# --- engines ---------------------------------------------------------------------------------------------

class EdgekitHost:
    """edgekit's host board: one device process per thread count, kept running across rounds."""

    engine = "edgekit"

    def __init__(self, model, work: Path, log, head: str | None = DEFAULT_HEAD, engine: str = "edgekit"):
        from edgekit.bench.suites import host_project
        from edgekit.boards import load_board
        from edgekit.gen.project import kernel_families
        from edgekit.plan.planner import plan_model

        self.model, self.log, self.engine = model, log, engine
        # the host board's own build, as `edgekit build` makes it (its x86-64 tier is picked when it runs)
        kernels = ";".join(kernel_families(load_board("host")))
        self.project = host_project(model, kernels, work, log, embedding=head)
        ctx = min(model.config.max_seq_len, CTX)
        plan = plan_model(model.config, load_board("host"), ctx=ctx, embedding=head)
        self.bytes_per_token = plan.read_per_token_bytes
        head = plan.choice.embedding if model.config.tie_word_embeddings else plan.choice.lm_head
        self.format = f"{plan.choice.ternary} + {head} head, kernels {kernels}"
        self._devices: dict[int, tuple] = {}

    def _client(self, threads: int):
        if threads not in self._devices:
            from edgekit.link.client import DeviceClient
            from edgekit.link.device_process import DeviceProcess

            images = sorted(self.project.glob("model.part*.ekm"))
            dev = DeviceProcess(self.project / "build" / "firmware" / "edgekit-device", images,
                                args=["--threads", str(threads)])
            dev.__enter__()
            client = DeviceClient(dev.url, timeout_scale=40.0)
            client.__enter__()
            ident = client.hello()
            if f"runs {ident.kernel}" not in self.format:  # the tier an x86-64 build picked at run time
                self.format += f" (runs {ident.kernel})"
            self._devices[threads] = (dev, client)
        return self._devices[threads][1]

    def measure(self, metric: str, threads: int) -> float:
        client = self._client(threads)
        vocab = self.model.config.vocab_size
        if metric == "decode":
            done = client.generate(prompt_ids(DECODE_PROMPT, vocab), max_new_tokens=DECODE_TOKENS, temperature=0.0,
                                   stop_at_eos=False).run()
            rate = done.decode_tokens_per_s
        else:
            done = client.generate(prompt_ids(PREFILL_TOKENS, vocab), max_new_tokens=1, temperature=0.0,
                                   stop_at_eos=False).run()
            rate = done.prefill_tokens_per_s
        if not rate:
            raise EdgekitError(f"edgekit {metric} with {threads} thread(s) reported no timing")
        return rate

    def close(self) -> None:
        for dev, client in self._devices.values():
            client.__exit__(None, None, None)
            dev.__exit__(None, None, None)
        self._devices.clear()


def import_llama_cpp():
    try:
        import llama_cpp
    except ImportError:
        raise EdgekitError("the peers suite runs llama.cpp through the llama-cpp-python package, which is not "
                           "installed", fix=PEERS_EXTRA_HINT) from None
    return llama_cpp


def llama_cpp_gguf(model, work: Path, log) -> tuple[Path, str]:
    """The model as llama.cpp runs it: exported TQ2_0 with an F16 head, then the head requantised to Q6_K by
    llama.cpp's own quantizer. Made once per model in the work directory. Returns (path, format label)."""
    from edgekit.pack.gguf_export import export_gguf

    llama_cpp = import_llama_cpp()
    stem = f"peer-{Path(str(model.source)).name}"
    f16 = work / f"{stem}.tq2_0-f16.gguf"
    q6k = work / f"{stem}.tq2_0-q6_k.gguf"
    if q6k.is_file():
        return q6k, "TQ2_0 + Q6_K head"
    if not f16.is_file():
        log(f"exporting {model.source} to {f16}")
        export_gguf(model, f16, ternary_type="tq2_0", output_type="f16")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_TQ2_0
    params.output_tensor_type = llama_cpp.GGML_TYPE_Q6_K
    params.token_embedding_type = llama_cpp.GGML_TYPE_Q6_K
    params.allow_requantize = True  # the ternary tensors are TQ2_0 already: they requantise to the same codes
    tmp = q6k.with_suffix(".tmp")
    log(f"llama.cpp: requantising the head of {f16.name} to Q6_K")
    status = llama_cpp.llama_model_quantize(str(f16).encode(), str(tmp).encode(), params)
    if status != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        log(f"llama_model_quantize returned {status}: llama.cpp runs the F16 head")
        return f16, "TQ2_0 + F16 head"
    tmp.replace(q6k)
    return q6k, "TQ2_0 + Q6_K head"


class LlamaCppPython:
    """llama.cpp in this process (llama-cpp-python); timings from llama.cpp's own counters when present."""

    engine = "llama.cpp (llama-cpp-python)"

    def __init__(self, gguf: Path, fmt: str, vocab: int):
        self.llama_cpp = import_llama_cpp()
        self.gguf, self.format, self.vocab = gguf, f"{fmt}, llama-cpp-python {self.llama_cpp.__version__}", vocab
        self.bytes_per_token = gguf_bytes_per_token(gguf)
        self._llms: dict[int, object] = {}

    def _llm(self, threads: int):
        if threads not in self._llms:
            self._llms[threads] = self.llama_cpp.Llama(model_path=str(self.gguf), n_ctx=CTX, n_batch=PREFILL_TOKENS,
                                                       n_ubatch=PREFILL_TOKENS, n_threads=threads,
                                                       n_threads_batch=threads, verbose=False)
        return self._llms[threads]

    def measure(self, metric: str, threads: int) -> float:
        llm = self._llm(threads)
        llm.reset()
        if metric == "decode":
            llm.eval(prompt_ids(DECODE_PROMPT, self.vocab))
            steps = prompt_ids(DECODE_TOKENS, self.vocab)
            t0 = time.perf_counter()
            for token in steps:
                llm.eval([token])
            return len(steps) / (time.perf_counter() - t0)
        ids = prompt_ids(PREFILL_TOKENS, self.vocab)
        t0 = time.perf_counter()
        llm.eval(ids)
        return len(ids) / (time.perf_counter() - t0)

    def close(self) -> None:
        for llm in self._llms.values():
            llm.close()
        self._llms.clear()


PEER_FORMATS = ("i2_s", "tq2_0", "tq1_0")  # what `edgekit export` writes for a llama-bench peer


def _json_span(text: str) -> str:
    """The JSON array in llama-bench's stdout: some builds print log lines before or after it."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith("[")), None)
    last = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith("]")), None)
    if first is None or last is None or last < first:
        return text
    return "\n".join(lines[first:last + 1])


def parse_llama_bench_tests(text: str) -> list[dict]:
    """The tests in llama-bench's `-o json` output (a JSON list of objects)."""
    try:
        tests = json.loads(_json_span(text))
    except json.JSONDecodeError as e:
        raise EdgekitError(f"llama-bench did not print JSON ({e.msg})", fix="pass a llama-bench that knows -o json")
    if not isinstance(tests, list) or not all(isinstance(t, dict) for t in tests):
        raise EdgekitError("llama-bench's JSON is not a list of tests", fix="pass a llama-bench that knows -o json")
    return tests


def parse_llama_bench_json(text: str, metric: str, threads: int) -> float:
    """tokens/s of the one test in llama-bench's `-o json` output that matches the case."""
    return _tokens_per_s(_matching_test(parse_llama_bench_tests(text), metric, threads))


def _tokens_per_s(test: dict) -> float:
    """The median of a test's samples (older builds report only avg_ts)."""
    samples = test.get("samples_ts") or [test["avg_ts"]]
    return float(sorted(samples)[len(samples) // 2])


def _matching_test(tests: list[dict], metric: str, threads: int) -> dict:
    for t in tests:
        prompt, gen = int(t.get("n_prompt", -1)), int(t.get("n_gen", -1))
        if int(t.get("n_threads", -1)) != threads:
            continue
        if (metric == "decode" and prompt == 0 and gen > 0) or (metric == "prefill" and prompt > 0 and gen == 0):
            return t
    raise EdgekitError(f"llama-bench's JSON has no {metric} test with {threads} thread(s)")


def build_label(test: dict) -> str:
    """The build a llama-bench reports: commit and build number (a build outside git says "unknown")."""
    commit, number = str(test.get("build_commit") or "unknown"), test.get("build_number")
    return f"{commit}, build {number}" if number not in (None, 0, "0") else commit


def failure_line(stderr: str) -> str:
    """The line of a failed llama-bench's stderr that says why (llama.cpp logs pages of model metadata first): the
    last naming an error (the cause: "error loading model: ..."), else the last naming a failure, else the last."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for word in ("error", "fail"):
        found = [line for line in lines if word in line.lower()]
        if found:
            return found[-1][:300]
    return lines[-1][:300] if lines else "no message"


@dataclass
class LlamaBench:
    """A llama-bench binary the user names, run once per case and round (it warms up on its own)."""

    path: Path
    gguf: Path
    format: str = ""
    bytes_per_token: int = 0
    engine: str = field(default="", init=False)

    def __post_init__(self):
        self.path, self.gguf = Path(self.path), Path(self.gguf)
        if not self.path.is_file():
            raise EdgekitError(f"--peer-bench {self.path} is not a file", fix="give the path of a llama-bench binary")
        if not self.gguf.is_file():
            raise EdgekitError(f"--peer-model {self.gguf} is not a file", fix="give the GGUF that binary runs")
        from edgekit.loaders.gguf_file import GGUFFile
        from edgekit.loaders.gguf_types import GGML_TYPE_BY_ID

        tensors = GGUFFile(self.gguf).tensors.values()
        self.types = ", ".join(sorted({t.type_name for t in tensors}))
        # the ternary type names the engine too: one binary may run two formats in one run
        kinds = {t.type_name: getattr(GGML_TYPE_BY_ID.get(t.ggml_type), "kind", None) for t in tensors}
        self.ternary = "+".join(sorted(name for name, kind in kinds.items() if kind == "ternary"))
        self.engine = f"llama-bench ({self.path})"  # until the binary reports its build (first measurement)
        self.format = self.format or f"{self.types} ({self.gguf.name})"
        self.bytes_per_token = self.bytes_per_token or gguf_bytes_per_token(self.gguf)
        self._labelled = False

    def command(self, metric: str, threads: int) -> list[str]:
        prompt, gen = (0, DECODE_TOKENS) if metric == "decode" else (PREFILL_TOKENS, 0)
        return [str(self.path), "-m", str(self.gguf), "-t", str(threads), "-p", str(prompt), "-n", str(gen),
                "-r", "1", "-o", "json"]

    def run(self, metric: str, threads: int) -> dict:
        """The binary's JSON test for one case; a failure is one line naming the binary, the file and why."""
        try:
            r = subprocess.run(self.command(metric, threads), capture_output=True, text=True, errors="replace")
        except OSError as e:
            raise EdgekitError(f"cannot run --peer-bench {self.path}: {e.strerror}",
                               fix="give the path of an executable llama-bench built for this machine") from None
        if r.returncode:
            how = f"exit {r.returncode}" if r.returncode > 0 else f"signal {-r.returncode}"
            raise EdgekitError(f"{self.path} failed on {self.gguf.name} ({how}): {failure_line(r.stderr)}",
                               fix="check that this llama-bench's project loads this GGUF's types "
                                   f"({self.types}); bitnet.cpp runs --peer-format i2_s, llama.cpp tq2_0")
        return _matching_test(parse_llama_bench_tests(r.stdout), metric, threads)

    def measure(self, metric: str, threads: int) -> float:
        t = self.run(metric, threads)
        if not self._labelled:  # set before the first sample is stored, so every sample has this label
            build = build_label(t)
            # a build outside git reports "unknown": then the binary's path says which one it is
            self.engine = (f"llama-bench {build}" if build != "unknown" else f"llama-bench ({self.path})") + \
                (f" {self.ternary}" if self.ternary else "")
            self._labelled = True
        return _tokens_per_s(t)

    def close(self) -> None:
        pass


def peer_gguf(model, work: Path, fmt: str, bench: Path, log) -> Path:
    """The model in the format a llama-bench peer's project runs (`edgekit export --type fmt`, F16 head), the
    tied embedding/head then requantised to Q6_K by the llama-quantize beside that binary, as its users run
    models; the F16-head file if there is no llama-quantize or it fails. Made once per model, format and binary
    folder in the work directory."""
    from edgekit.pack.gguf_export import export_gguf

    stem = f"peer-{Path(str(model.source)).name}.{fmt}"
    f16 = work / f"{stem}-f16.gguf"
    quantize = Path(bench).with_name("llama-quantize")
    # one Q6_K file per quantizer (named by a hash of its path): two projects' quantizers need not agree
    q6k = work / f"{stem}-q6_k.{hashlib.sha1(str(quantize.resolve()).encode()).hexdigest()[:8]}.gguf"
    if q6k.is_file():
        return q6k
    if not f16.is_file():
        log(f"exporting {model.source} to {f16}")
        export_gguf(model, f16, ternary_type=fmt, output_type="f16")
    if not quantize.is_file():
        log(f"no {quantize}: the peer runs the F16 head")
        return f16
    tmp = q6k.with_suffix(".tmp")
    # the ternary tensors already have the target type: llama-quantize copies them as they are
    cmd = [str(quantize), "--token-embedding-type", "q6_k", str(f16), str(tmp), fmt.upper(), "1"]
    log(f"{quantize.name}: requantising the head of {f16.name} to Q6_K")
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if r.returncode or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        log(f"{quantize} failed ({failure_line(r.stderr)}): the peer runs the F16 head")
        return f16
    tmp.replace(q6k)
    return q6k


# --- the run ---------------------------------------------------------------------------------------------

def run_rounds(engines: list, bandwidth, rounds: int, log, warmup: int = 1) -> tuple[dict, dict]:
    """Interleaved measurements: {(engine, metric, threads): [tokens/s]}, {threads: [GB/s]} (warm-up dropped).
    bandwidth(threads) -> list of GB/s samples, or None to skip it."""
    samples: dict[tuple[str, str, int], list[float]] = {}
    bw: dict[int, list[float]] = {}
    for r in range(warmup + rounds):
        keep = r >= warmup
        log(f"peers: round {r + 1}/{warmup + rounds}{'' if keep else ' (warm-up)'}")
        if bandwidth is not None:
            for threads in DECODE_THREADS:
                got = bandwidth(threads)
                if keep:
                    bw.setdefault(threads, []).extend(got)
        for metric, threads in cases():
            for e in engines:
                rate = e.measure(metric, threads)
                if sum(other.engine == e.engine for other in engines) > 1:  # their samples would be pooled
                    raise EdgekitError(f"two engines are both named {e.engine!r}",
                                       fix="give the same llama-bench and format only once")
                if keep:
                    samples.setdefault((e.engine, metric, threads), []).append(rate)
    return samples, bw


def rows_from(engines: list, samples: dict, bw: dict, model_name: str) -> list[dict]:
    """One row per engine and case, and one per bandwidth measurement; ratios are each edgekit engine's median over
    each row's (column `<edgekit engine>_over_this`: `edgekit_over_this`, or `edgekit_q4i_over_this` per head)."""
    rows = []
    for threads, gbps in sorted(bw.items()):
        s = summary(gbps)
        rows.append({"suite": "bandwidth", "threads": threads, "gb_per_s_min": s["min"],
                     "gb_per_s_median": s["median"], "gb_per_s_max": s["max"], "runs": s["runs"]})
    ours = {e.engine: {k[1:]: summary(v)["median"] for k, v in samples.items() if k[0] == e.engine}
            for e in engines if e.engine.startswith(EdgekitHost.engine)}
    for e in engines:
        for metric, threads in cases():
            got = samples.get((e.engine, metric, threads))
            if not got:
                continue
            s = summary(got)
            bw_median = summary(bw[threads])["median"] if bw.get(threads) else None
            roofline = bw_median * 1e9 / e.bytes_per_token if bw_median and e.bytes_per_token else None
            rows.append({
                "suite": "peers", "model": model_name, "engine": e.engine, "format": e.format, "metric": metric,
                "threads": threads, "tokens_per_s_min": s["min"], "tokens_per_s_median": s["median"],
                "tokens_per_s_max": s["max"], "runs": s["runs"], "bytes_per_token": e.bytes_per_token,
                # prefill reads each weight once per batch, not per token: no bandwidth roofline for it
                "roofline_tokens_per_s": round(roofline, 2) if roofline and metric == "decode" else None,
                "roofline_fraction": ratio(s["median"], roofline, 3) if metric == "decode" else None,
                **{f"{name.replace(' ', '_')}_over_this": ratio(medians.get((metric, threads)), s["median"])
                   for name, medians in ours.items()},
                # which llama-bench: the build it reports does not say which project it is
                "binary": str(e.path) if isinstance(e, LlamaBench) else None,
            })
    return rows


def peer_pairs(peer_bench, peer_model, peer_format) -> list[tuple[Path, Path | None, str | None]]:
    """(binary, GGUF or None, format or None) per --peer-bench, paired in order with the --peer-format or the
    --peer-model options (one kind for all), checked before any work."""
    benches, models, formats = (tuple(x) for x in (peer_bench or (), peer_model or (), peer_format or ()))
    if not benches and (models or formats):
        raise EdgekitError("--peer-model and --peer-format describe a --peer-bench binary, and none was given",
                           fix="add --peer-bench PATH/llama-bench")
    if benches and (bool(models) == bool(formats) or len(models or formats) != len(benches)):
        raise EdgekitError("each --peer-bench needs one --peer-format (the suite exports the same weights) or, for "
                           "all of them, one --peer-model (a GGUF of yours), given in the same order",
                           fix="e.g. --peer-bench bitnet.cpp/build/bin/llama-bench --peer-format i2_s")
    for bench in benches:
        if not Path(bench).is_file():
            raise EdgekitError(f"--peer-bench {bench} is not a file", fix="give the path of a llama-bench binary")
    for fmt in formats:
        if fmt not in PEER_FORMATS:
            raise EdgekitError(f"--peer-format {fmt} is not one edgekit exports",
                               fix=f"one of {', '.join(PEER_FORMATS)}")
    return [(Path(b), Path(models[i]) if models else None, formats[i] if formats else None)
            for i, b in enumerate(benches)]


def bench_peers(work: Path, log, *, model_arg: str | None = None, peer_bench=(), peer_model=(), peer_format=(),
                rounds: int = DEFAULT_ROUNDS, head: str | tuple[str, ...] | None = DEFAULT_HEAD) -> list[dict]:
    """peer_bench: llama-bench binaries; with each, in order, a format of peer_format or a GGUF of peer_model.
    head: edgekit's embedding/head format, or several: one edgekit engine each ("edgekit <head>"), all in the
    same interleaved rounds."""
    heads = (head,) if head is None or isinstance(head, str) else tuple(dict.fromkeys(head))
    import edgekit
    from edgekit.bench.suites import TWO_B, synthetic_checkpoint

    # before minutes of checkpoint writing and building: say what is missing or wrong first
    pairs = peer_pairs(peer_bench, peer_model, peer_format)
    try:
        import_llama_cpp()
        with_python_peer = True
    except EdgekitError:
        if not pairs:
            raise
        log(f"llama-cpp-python is not installed: only the --peer-bench peers run ({PEERS_EXTRA_HINT})")
        with_python_peer = False
    work.mkdir(parents=True, exist_ok=True)
    model = edgekit.load(model_arg or synthetic_checkpoint(TWO_B, work, log))
    name = model_arg or f"{TWO_B} (synthetic, tied)"
    engines: list = []
    try:
        for h in heads:
            engines.append(EdgekitHost(model, work, log, head=h,
                                       engine="edgekit" if len(heads) == 1 else f"edgekit {h}"))
        if with_python_peer:
            gguf, fmt = llama_cpp_gguf(model, work, log)
            engines.append(LlamaCppPython(gguf, fmt, model.config.vocab_size))
        for bench, gguf, fmt in pairs:
            engines.append(LlamaBench(bench, gguf if gguf is not None else peer_gguf(model, work, fmt, bench, log)))
        reader = build_reader(work)
        samples, bw = run_rounds(engines, lambda t: read_bandwidth(reader, t, repeats=2), rounds, log)
    finally:
        for e in engines:
            e.close()
    return rows_from(engines, samples, bw, name)
