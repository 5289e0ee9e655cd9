#!/usr/bin/env python3
"""Writes Tests/AutogradTests/fixtures/ops.safetensors: PyTorch-made fixtures for conv3d and batch norm, forward
and backward, for the Swift kernel tests.

Regenerate (from the repository root; deterministic, seed 1234):

    /opt/torch-venv/bin/python bench/make_fixtures.py

Every input is drawn in float32 and widened, every result is computed in float64 and stored as float32, so the
stored inputs are exactly the ones the results were computed from (only the outputs carry float32 rounding).

Keys (i counts from 0; `conv.count` and `bn.count` in `__metadata__`):
- conv{i}.input (N x Cin x T x H x W), conv{i}.weight (Cout x Cin x kT x kH x kW), conv{i}.bias (Cout; only
  where conv{i}.has_bias = "true"), conv{i}.output, conv{i}.grad_output (random upstream gradient),
  conv{i}.grad_input, conv{i}.grad_weight, conv{i}.grad_bias (only with a bias);
  metadata conv{i}.stride, conv{i}.padding, conv{i}.kernel as JSON lists ("[1, 2, 2]"), conv{i}.has_bias.
- bn{i}.input (N x C x T x H x W or N x C), bn{i}.weight, bn{i}.bias, bn{i}.running_mean, bn{i}.running_var
  (before), bn{i}.running_mean_after, bn{i}.running_var_after, bn{i}.output, bn{i}.grad_output,
  bn{i}.grad_input, bn{i}.grad_weight, bn{i}.grad_bias; metadata bn{i}.training ("true"/"false"),
  bn{i}.momentum, bn{i}.eps. Training mode normalises with the biased batch variance and moves running_var
  towards the unbiased one; evaluation mode normalises with the running statistics and leaves them alone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "Tests" / "AutogradTests" / "fixtures" / "ops.safetensors"

# (input shape N x Cin x T x H x W, Cout, kernel, stride, padding, bias)
CONV_CASES = [
    ((1, 3, 3, 13, 11), 5, (1, 7, 7), (1, 2, 2), (0, 3, 3), False),  # stem spatial conv
    ((3, 4, 5, 6, 7), 6, (3, 1, 1), (2, 1, 1), (1, 0, 0), False),  # temporal conv, stride 2
    ((3, 5, 3, 9, 7), 4, (1, 3, 3), (1, 2, 2), (0, 1, 1), False),  # spatial conv, stride 2
    ((1, 6, 5, 7, 9), 4, (1, 1, 1), (2, 2, 2), (0, 0, 0), False),  # downsample shortcut
    ((3, 3, 4, 5, 6), 4, (3, 3, 3), (1, 1, 1), (1, 1, 1), True),  # full 3x3x3 with bias
    ((1, 4, 4, 5, 3), 3, (3, 1, 1), (1, 1, 1), (1, 0, 0), False),  # temporal conv, stride 1
    ((3, 2, 2, 7, 5), 3, (1, 3, 3), (1, 1, 1), (0, 1, 1), True),  # spatial conv, stride 1, bias
]

# (input shape, training)
BN_CASES = [
    ((2, 4, 3, 5, 6), True),
    ((3, 3, 2, 3, 5), True),
    ((5, 6), True),
    ((3, 4), True),
    ((2, 3, 2, 3, 4), False),
]

MOMENTUM = 0.1
EPS = 1e-5


def randn(*shape: int, scale: float = 1.0) -> torch.Tensor:
    """float32 draws widened to float64, so the stored float32 inputs are exact."""
    return (torch.randn(*shape, dtype=torch.float32) * scale).to(torch.float64)


def exact(t: torch.Tensor) -> torch.Tensor:
    """Rounds a float64 tensor to a float32-representable one."""
    return t.to(torch.float32).to(torch.float64)


def f32(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float32).contiguous()


def conv_fixtures(tensors: dict, meta: dict) -> None:
    for i, (shape, cout, kernel, stride, padding, has_bias) in enumerate(CONV_CASES):
        cin = shape[1]
        fan_in = cin * kernel[0] * kernel[1] * kernel[2]
        x = randn(*shape).requires_grad_()
        w = randn(cout, cin, *kernel, scale=fan_in ** -0.5).requires_grad_()
        b = randn(cout, scale=0.5).requires_grad_() if has_bias else None
        y = F.conv3d(x, w, b, stride=stride, padding=padding)
        gy = randn(*y.shape)
        y.backward(gy)
        p = f"conv{i}."
        tensors.update({p + "input": f32(x), p + "weight": f32(w), p + "output": f32(y),
                        p + "grad_output": f32(gy), p + "grad_input": f32(x.grad), p + "grad_weight": f32(w.grad)})
        if b is not None:
            tensors[p + "bias"] = f32(b)
            tensors[p + "grad_bias"] = f32(b.grad)
        meta.update({p + "stride": json.dumps(list(stride)), p + "padding": json.dumps(list(padding)),
                     p + "kernel": json.dumps(list(kernel)), p + "has_bias": json.dumps(has_bias)})
    meta["conv.count"] = str(len(CONV_CASES))


def bn_fixtures(tensors: dict, meta: dict) -> None:
    for i, (shape, training) in enumerate(BN_CASES):
        c = shape[1]
        # an offset and scale per channel so that mean and variance are not trivially 0 and 1
        offset = randn(c).view(1, c, *([1] * (len(shape) - 2)))
        x = exact(randn(*shape) * 1.5 + offset).requires_grad_()
        weight = exact(1 + randn(c, scale=0.3)).requires_grad_()
        bias = randn(c, scale=0.3).requires_grad_()
        running_mean = randn(c, scale=0.5)
        running_var = exact(0.5 + torch.rand(c, dtype=torch.float64))
        mean_after, var_after = running_mean.clone(), running_var.clone()
        y = F.batch_norm(x, mean_after, var_after, weight, bias, training=training, momentum=MOMENTUM, eps=EPS)
        gy = randn(*y.shape)
        y.backward(gy)
        p = f"bn{i}."
        tensors.update({
            p + "input": f32(x), p + "weight": f32(weight), p + "bias": f32(bias),
            p + "running_mean": f32(running_mean), p + "running_var": f32(running_var),
            p + "running_mean_after": f32(mean_after), p + "running_var_after": f32(var_after),
            p + "output": f32(y), p + "grad_output": f32(gy), p + "grad_input": f32(x.grad),
            p + "grad_weight": f32(weight.grad), p + "grad_bias": f32(bias.grad),
        })
        meta.update({p + "training": json.dumps(training), p + "momentum": str(MOMENTUM), p + "eps": str(EPS)})
    meta["bn.count"] = str(len(BN_CASES))


def save_sorted(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """Writes a float32 safetensors file with keys in sorted order (safetensors' own writer orders the metadata
    by hash, so its files differ from run to run; this one is byte-for-byte reproducible)."""
    header: dict[str, object] = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, offset = [], 0
    for key in sorted(tensors):
        t = tensors[key]
        assert t.dtype == torch.float32
        data = t.contiguous().numpy().astype("<f4").tobytes()
        header[key] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as fh:
        fh.write(len(text).to_bytes(8, "little"))
        fh.write(text)
        for data in blobs:
            fh.write(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    torch.manual_seed(1234)
    tensors: dict[str, torch.Tensor] = {}
    meta = {"generator": f"bench/make_fixtures.py, PyTorch {torch.__version__}, float64 computed, float32 stored"}
    conv_fixtures(tensors, meta)
    bn_fixtures(tensors, meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_sorted(tensors, args.out, meta)
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size / 1024:.1f} KiB, {len(tensors)} tensors)")
    if size > 300 * 1024:
        raise SystemExit(f"{args.out} is {size} bytes, over the 300 KB budget")


if __name__ == "__main__":
    main()
