"""The peer benchmark: edgekit against llama.cpp (and any llama-bench binary) in one run, on the same weights.

    edgekit bench --suite peers [--peer-bench PATH --peer-model GGUF] [--rounds N] [--model MODEL] [--head FMT]

One model (by default a synthetic checkpoint of the bitnet-b1.58-2B-4T shape with a tied embedding, as the
release) runs on
- edgekit: the host board's device process (the best kernels this CPU has, the planner's ternary format, the
  embedding/head format --head, by default q8row: a compact head as the peers' Q6_K is, where the planner
  would pick f32 on a host with memory to spare);
- llama.cpp through the llama-cpp-python package (the `peers` extra): the same model exported by
  `edgekit export` as TQ2_0, its tied embedding/head requantised to Q6_K by llama.cpp's own
  llama_model_quantize (as llama.cpp users run it; F16 if that fails);
- optionally a llama-bench binary the user names (bitnet.cpp, ik_llama.cpp, llama.cpp), on the GGUF they name.

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

    def __init__(self, model, work: Path, log, head: str | None = DEFAULT_HEAD):
        from edgekit.bench.kernels import native_kernel_sets
        from edgekit.bench.suites import host_project
        from edgekit.boards import load_board
        from edgekit.plan.planner import plan_model

        self.model, self.log = model, log
        kernels = native_kernel_sets()[-1][0]
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
            client.hello()
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


def parse_llama_bench_json(text: str, metric: str, threads: int) -> float:
    """tokens/s of the one test in llama-bench's `-o json` output that matches the case."""
    try:
        tests = json.loads(text)
    except json.JSONDecodeError as e:
        raise EdgekitError(f"llama-bench did not print JSON ({e.msg})", fix="pass a llama-bench that knows -o json")
    for t in tests if isinstance(tests, list) else []:
        prompt, gen = int(t.get("n_prompt", -1)), int(t.get("n_gen", -1))
        if int(t.get("n_threads", -1)) != threads:
            continue
        if (metric == "decode" and prompt == 0 and gen > 0) or (metric == "prefill" and prompt > 0 and gen == 0):
            samples = t.get("samples_ts") or [t["avg_ts"]]
            return float(sorted(samples)[len(samples) // 2])
    raise EdgekitError(f"llama-bench's JSON has no {metric} test with {threads} thread(s)")


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

        types = sorted({t.type_name for t in GGUFFile(self.gguf).tensors.values()})
        self.engine = f"llama-bench ({self.path})"
        self.format = self.format or f"{self.gguf.name}: {', '.join(types)}"
        self.bytes_per_token = self.bytes_per_token or gguf_bytes_per_token(self.gguf)

    def command(self, metric: str, threads: int) -> list[str]:
        prompt, gen = (0, DECODE_TOKENS) if metric == "decode" else (PREFILL_TOKENS, 0)
        return [str(self.path), "-m", str(self.gguf), "-t", str(threads), "-p", str(prompt), "-n", str(gen),
                "-r", "1", "-o", "json"]

    def measure(self, metric: str, threads: int) -> float:
        r = subprocess.run(self.command(metric, threads), capture_output=True, text=True)
        if r.returncode:
            raise EdgekitError(f"{self.path} failed (exit {r.returncode}): {r.stderr.strip()[-400:]}")
        return parse_llama_bench_json(r.stdout, metric, threads)

    def close(self) -> None:
        pass


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
                if keep:
                    samples.setdefault((e.engine, metric, threads), []).append(rate)
    return samples, bw


def rows_from(engines: list, samples: dict, bw: dict, model_name: str) -> list[dict]:
    """One row per engine and case, and one per bandwidth measurement; ratios are edgekit's median over each."""
    rows = []
    for threads, gbps in sorted(bw.items()):
        s = summary(gbps)
        rows.append({"suite": "bandwidth", "threads": threads, "gb_per_s_min": s["min"],
                     "gb_per_s_median": s["median"], "gb_per_s_max": s["max"], "runs": s["runs"]})
    ours = {k[1:]: summary(v)["median"] for k, v in samples.items() if k[0] == EdgekitHost.engine}
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
                "edgekit_over_this": ratio(ours.get((metric, threads)), s["median"]),
            })
    return rows


def bench_peers(work: Path, log, *, model_arg: str | None = None, peer_bench: Path | None = None,
                peer_model: Path | None = None, rounds: int = DEFAULT_ROUNDS,
                head: str | None = DEFAULT_HEAD) -> list[dict]:
    import edgekit
    from edgekit.bench.suites import TWO_B, synthetic_checkpoint

    import_llama_cpp()  # before minutes of checkpoint writing and building: say what is missing first
    if (peer_bench is None) != (peer_model is None):
        raise EdgekitError("--peer-bench and --peer-model go together", fix="give both, or neither")
    work.mkdir(parents=True, exist_ok=True)
    model = edgekit.load(model_arg or synthetic_checkpoint(TWO_B, work, log))
    name = model_arg or f"{TWO_B} (synthetic, tied)"
    engines: list = []
    try:
        engines.append(EdgekitHost(model, work, log, head=head))
        gguf, fmt = llama_cpp_gguf(model, work, log)
        engines.append(LlamaCppPython(gguf, fmt, model.config.vocab_size))
        if peer_bench is not None:
            engines.append(LlamaBench(peer_bench, peer_model))
        reader = build_reader(work)
        samples, bw = run_rounds(engines, lambda t: read_bandwidth(reader, t, repeats=2), rounds, log)
    finally:
        for e in engines:
            e.close()
    return rows_from(engines, samples, bw, name)
