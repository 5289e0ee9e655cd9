#!/usr/bin/env python3
"""Times full training steps of the PyTorch reference model (bench/concept_model.py) in float32 on the CPU.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /opt/torch-venv/bin/python bench/torch_step.py --preset tiny --batch 8

A step is: zero_grad, forward on [v; s; d] (3N clips), all losses (aln, div, fid, loc), backward, SGD step and
the queue push. The last line is machine-readable:

    RESULT torch preset=tiny batch=8 ms_per_step=... clips_per_s=... peak_rss_mb=...

where ms_per_step is the median over --iters timed steps and clips_per_s = batch / (median seconds per step).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from concept_model import Config, ConceptModel, make_optimizer, train_step  # noqa: E402

# preset -> (widths, stem, frames T, height, width)
PRESETS = {
    "tiny": ([16, 32, 64, 128], 11, 8, 64, 64),
    "small": ([32, 64, 128, 256], 23, 8, 112, 112),
    "paper": ([64, 128, 256, 512], 45, 16, 112, 112),
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.batch < 2 or args.iters < 1 or args.warmup < 0:
        ap.error("need --batch >= 2 (batch norm over the sigma/local terms), --iters >= 1, --warmup >= 0")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    widths, stem, frames, height, width = PRESETS[args.preset]
    cfg = Config(widths=widths, stem=stem, blocks=[2, 2, 2, 2], ks=50, kd=50, queue_length=256, topk=5,
                 use_local=True)
    model = ConceptModel(cfg).float()
    model.fill_queues_random(cfg.queue_length)
    opt = make_optimizer(model)
    n = args.batch
    clip = torch.randn(n, 3, frames + 1, height, width)
    static_index = torch.randint(0, frames, (n,))
    params = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, preset {args.preset} "
          f"(widths {widths}, stem {stem}, {frames}+1 frames {height}x{width}), batch {n}, "
          f"{params / 1e6:.2f} M parameters")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    times = []
    loss = float("nan")
    for i in range(args.warmup + args.iters):
        start = time.perf_counter()
        out = train_step(model, opt, clip, static_index)
        elapsed = time.perf_counter() - start
        loss = out["loss_total"].item()
        if i >= args.warmup:
            times.append(elapsed)
        print(f"  step {i + 1:3d}{' (warm-up)' if i < args.warmup else '':10s} {elapsed * 1e3:9.1f} ms  "
              f"loss {loss:.4f}")
    if not torch.isfinite(torch.tensor(loss)):
        print("loss is not finite", file=sys.stderr)
        return 1

    median = statistics.median(times)
    rss = peak_rss_mb()
    print(f"median {median * 1e3:.1f} ms/step (min {min(times) * 1e3:.1f}, max {max(times) * 1e3:.1f}), "
          f"{n / median:.2f} clips/s, peak RSS {rss:.0f} MB")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"RESULT torch preset={args.preset} batch={n} ms_per_step={median * 1e3:.1f} "
          f"clips_per_s={n / median:.3f} peak_rss_mb={rss:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
