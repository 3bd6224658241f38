"""One load+pack measurement in a fresh process, so its peak RSS is its own: prints a JSON line.

    python -m edgekit.bench.pack_worker CHECKPOINT OUT.ekm FORMAT EMBEDDING
"""
from __future__ import annotations

import json
import resource
import sys
import time


def main(argv: list[str]) -> int:
    checkpoint, out, ternary, embedding = argv
    t0 = time.perf_counter()
    import edgekit
    from edgekit.pack.packer import PackChoice, pack_model

    model = edgekit.load(checkpoint)
    t_load = time.perf_counter()
    pack_model(model, out, PackChoice(ternary, embedding, embedding))
    t_end = time.perf_counter()
    counts = model.param_counts()
    print(json.dumps({
        "ternary_weights": counts["ternary"], "float_values": counts["float"],
        "load_s": t_load - t0, "pack_s": t_end - t_load, "total_s": t_end - t0,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
