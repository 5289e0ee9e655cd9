#!/usr/bin/env python3
"""Writes a parity case in the format of `../shared/reference/case_*.safetensors` for options that the reference
cases do not cover (docs/method-options.md), from `bench/concept_model.py` in float64.

Like `case_e`, every input and parameter is drawn as float32 and computed with in float64, so the stored inputs
are exact and the case needs no ReLU-tie handling. Keys: `input.frames`, `input.static_index`, `param.*`,
`queue.*`, `expect.*` (every intermediate the Swift parity test reads), `grad.*`, `after.*`, and the
configuration as `__metadata__` (JSON strings).

    /opt/torch-venv/bin/python bench/make_case.py --out Tests/ConceptModelTests/options/case_f.safetensors \\
        --set nce_reverse=true --set static_view=gray
    /opt/torch-venv/bin/python bench/concept_model.py --check Tests/ConceptModelTests/options
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import concept_model as cm  # noqa: E402

# The shape of case_e: small enough to run in milliseconds, large enough that every op has several channels.
BASE = dict(widths=[4, 8, 8, 12], stem=5, blocks=[2, 2, 2, 2], ks=8, kd=8, queue_length=12, fid_hidden=12, attn_dim=12,
            topk=3, difference="normalized", nce=1.0, nce_static=1.0, nce_queue=False)
SHAPE = dict(n=5, frames=4, height=28, width=24)


def make_case(overrides: dict, seed: int, use_local: bool) -> tuple[dict, dict]:
    cfg = cm.Config(**{**BASE, **overrides})
    cfg.use_local = use_local
    torch.manual_seed(seed)
    model = cm.ConceptModel(cfg)  # float32 draws
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(0.1 * torch.randn_like(buf))
            elif name.endswith("running_var"):
                buf.copy_(1 + 0.2 * torch.rand_like(buf))
            elif name.endswith("num_batches_tracked"):
                buf.fill_(3)
    n, t, h, w = SHAPE["n"], SHAPE["frames"], SHAPE["height"], SHAPE["width"]
    frames = torch.randn(n, 3, t + 1, h, w)
    static_index = torch.randint(0, t, (n,))
    queues = {}
    for b in "sdv":
        width = model.queue_width if b == "v" else cfg.channels
        queues[b] = F.normalize(torch.randn(cfg.queue_length, width), dim=1)
    params = {k: v.clone() for k, v in model.state_dict().items()}

    # The step itself in float64 from exactly these float32 values.
    model = model.double()
    for b in "sdv":
        setattr(model, f"queue_{b}", queues[b].double())
    opt = cm.make_optimizer(model)
    out = cm.train_step(model, opt, frames.double(), static_index, update_queues=False)

    tensors: dict[str, torch.Tensor] = {"input.frames": frames, "input.static_index": static_index}
    tensors.update({f"param.{k}": v for k, v in params.items()})
    tensors.update({f"queue.{b}": queues[b] for b in "sdv"})
    names = ["feat_v", "feat_s", "feat_d", "q_s", "q_d", "q_v", "target_s", "target_d", "target_vs", "target_vd",
             "F_s", "F_d", "F_v", "valid_s", "valid_d", "loss_aln", "loss_div", "loss_fid", "loss_loc", "loss_total"]
    names += [k for k in out if k.startswith("z_") or k in ("loss_nce", "loss_nce_static", "loss_consistency")]
    for k in names:
        v = out[k].detach()
        tensors[f"expect.{k}"] = v.to(torch.uint8) if v.dtype == torch.bool else v.float()
    for k, p in model.named_parameters():
        tensors[f"grad.{k}"] = p.grad.float()
    for k, v in model.state_dict().items():
        tensors[f"after.{k}"] = v if v.dtype == torch.int64 else v.float()
    meta = {k: v if isinstance(v, str) else json.dumps(v)
            for k, v in ((k, getattr(cfg, k)) for k in cfg.__dataclass_fields__)}
    meta.update({k: str(v) for k, v in SHAPE.items()})
    meta.update(use_local=json.dumps(use_local), seed=str(seed),
                reference=f"PyTorch {torch.__version__}, float64 (bench/make_case.py)")
    return {k: v.contiguous() for k, v in tensors.items()}, meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--set", action="append", default=[], help="Config field=value (JSON or plain string)")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--warmup", action="store_true", help="use_local = false (L_loc left out)")
    a = ap.parse_args()
    overrides = {}
    for item in a.set:
        k, v = item.split("=", 1)
        if k not in cm.Config.__dataclass_fields__:
            sys.exit(f"unknown Config field {k!r}")
        try:
            overrides[k] = json.loads(v)
        except json.JSONDecodeError:
            overrides[k] = v
    tensors, meta = make_case(overrides, a.seed, not a.warmup)
    from safetensors.torch import save_file  # noqa: PLC0415
    a.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(a.out), metadata=meta)
    print(f"{a.out}: {len(tensors)} tensors, loss_total {tensors['expect.loss_total'].item():.6f}")


if __name__ == "__main__":
    main()
