#!/usr/bin/env python3
"""Why does (or doesn't) the concept learner pick up motion? Trains the PyTorch model of the spec
(`bench/concept_model.py`, checked against the parity cases) on a generated static/dynamic set and prints, every
`--every` steps, linear probes of the held-out set plus what happens inside the alignment:

- probes (eval mode, logistic regression on standardised features, % test accuracy): motion on `v`, `q_v^d`,
  `q_v^s`, `q_d`, `f_d`; background on `v`, `q_v^s`, `q_v^d`;
- static branch: `agree` = argmax q_v^s == argmax t_s on the training batches, `purity` = how well argmax t_s
  predicts the background label (majority per code), `tmax` = mean largest target probability (1/K: uniform),
  `q-std` = spread of q_s over the concepts;
- dynamic branch: the same for `q_v^d`, `t_d` and the motion label, plus `cos_v`/`cos_d` = mean cosine between the
  batch's features (1: collapsed) and the InfoNCE loss when `nce > 0`.

Used for issue #7 (bench/RESULTS-learn.md, "Why"). Needs numpy and scikit-learn next to torch, and `ffmpeg` on the
PATH. Data: `conceptctl make-dataset` folders (square videos of `--side` pixels), e.g.

    conceptctl make-dataset /tmp/s --backgrounds 2 --motions 2 --clips-per-pair 64 --size 32 --frames 6 --seed 21 --test-fraction 0
    conceptctl make-dataset /tmp/p --backgrounds 2 --motions 2 --clips-per-pair 48 --size 32 --frames 6 --seed 22 --test-fraction 0.5
    python bench/learning_diagnostics.py --stream /tmp/s --probe /tmp/p --steps 400 --queue 0 --set nce=1

`--set name=value` sets any field of `concept_model.Config` (`nce`, `sigma`, `eps`, `gamma`, `aln_weight`, ...).
`--supervised 2` replaces the loss by cross-entropy of `q_v^d / tau` against the motion label (a control: can the
encoder learn motion from this data at all?).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import concept_model as cm  # noqa: E402

MEAN = np.array(cm.KINETICS_MEAN, dtype=np.float32)
STD = np.array(cm.KINETICS_STD, dtype=np.float32)


def load(folder: str, side: int):
    """Decodes every video of a make-dataset folder (cached in frames.npz): videos F x H x W x 3, labels, split."""
    rows = [line.rstrip("\n").split("\t") for line in open(Path(folder) / "manifest.tsv")][1:]
    cache = Path(folder) / "frames.npz"
    if cache.exists():
        vids = np.load(cache)["vids"]
    else:
        vids = np.stack([np.frombuffer(subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(Path(folder) / r[0]), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
            capture_output=True, check=True).stdout, np.uint8) for r in rows])
        np.savez(cache, vids=vids)
    vids = vids.reshape(len(rows), -1, side, side, 3)
    bg = {b: i for i, b in enumerate(sorted({r[1] for r in rows}))}
    mo = {m: i for i, m in enumerate(sorted({r[2] for r in rows}))}
    return (vids, np.array([bg[r[1]] for r in rows]), np.array([mo[r[2]] for r in rows]),
            np.array([r[3] == "train" for r in rows]))


def to_clip(frames: np.ndarray) -> torch.Tensor:
    """F x H x W x 3 bytes -> 3 x F x H x W, Kinetics-normalised."""
    x = (frames.astype(np.float32) / 255 - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(3, 0, 1, 2)))


@torch.no_grad()
def features(model: cm.ConceptModel, clips: torch.Tensor) -> dict[str, np.ndarray]:
    model.eval()
    out = cm.forward_losses(model, clips, torch.zeros(clips.shape[0], dtype=torch.long))
    model.train()
    ks = model.cfg.ks
    r = {"v": out["feat_v"], "q_v^d": out["q_v"][:, ks:], "q_v^s": out["q_v"][:, :ks], "q_d": out["q_d"],
         "f_d": out["feat_d"]}
    return {k: v.numpy().astype(np.float64) for k, v in r.items()}


def probe(feats: dict[str, np.ndarray], labels: np.ndarray, train: np.ndarray) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    res = {}
    for k, x in feats.items():
        sc = StandardScaler().fit(x[train])
        clf = LogisticRegression(C=1.0, max_iter=2000).fit(sc.transform(x[train]), labels[train])
        res[k] = clf.score(sc.transform(x[~train]), labels[~train])
    return res


def purity(codes: np.ndarray, labels: np.ndarray) -> float:
    return sum(np.bincount(labels[codes == c]).max() for c in np.unique(codes)) / len(codes)


def offdiag_cos(x: torch.Tensor) -> float:
    x = F.normalize(x.detach(), dim=1)
    c = x @ x.t()
    n = c.shape[0]
    return ((c.sum() - c.diagonal().sum()) / (n * n - n)).item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stream", required=True, help="make-dataset folder to train on")
    ap.add_argument("--probe", required=True, help="make-dataset folder with a train/test split to probe")
    ap.add_argument("--side", type=int, default=32, help="video side in pixels")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--frames", type=int, default=4, help="T (clips have T + 1 frames)")
    ap.add_argument("--k", type=int, default=8, help="Ks = Kd")
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--queue", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=100, help="steps without L_loc")
    ap.add_argument("--set", action="append", default=[], help="Config field=value (JSON or plain string)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--supervised", type=int, default=0, help="2: train q_v^d on the motion label only")
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    cfg = cm.Config(widths=[16, 32, 64, 128], stem=11, ks=a.k, kd=a.k, queue_length=a.queue, topk=3, lr=a.lr)
    for s in a.set:
        k, v = s.split("=", 1)
        if k not in cfg.__dataclass_fields__:
            sys.exit(f"unknown Config field {k!r}")
        try:
            v = json.loads(v)
        except json.JSONDecodeError:
            pass
        setattr(cfg, k, v)
    model = cm.ConceptModel(cfg)
    opt = cm.make_optimizer(model)
    sv, sbg, smo, _ = load(a.stream, a.side)
    pv, pbg, pmo, ptrain = load(a.probe, a.side)
    t1 = a.frames + 1
    mid = (pv.shape[1] - t1) // 2
    pclips = torch.stack([to_clip(v[mid:mid + t1]) for v in pv])
    ks = cfg.ks

    def report(step: int, diag: str) -> None:
        f = features(model, pclips)
        m = probe(f, pmo, ptrain)
        b = probe({k: f[k] for k in ("v", "q_v^s", "q_v^d")}, pbg, ptrain)
        print(f"step {step:5d} motion " + " ".join(f"{k} {100 * x:5.1f}" for k, x in m.items())
              + " | background " + " ".join(f"{k} {100 * x:5.1f}" for k, x in b.items()) + diag, flush=True)

    report(0, "")
    hist, t0 = [], time.time()
    for step in range(1, a.steps + 1):
        cfg.use_local = step > a.warmup
        idx = rng.integers(0, len(sv), a.batch)
        starts = rng.integers(0, sv.shape[1] - t1 + 1, a.batch)
        frames = torch.stack([to_clip(sv[i][s:s + t1]) for i, s in zip(idx, starts)])
        sidx = torch.from_numpy(rng.integers(0, a.frames, a.batch))
        if a.supervised:
            model.train()
            opt.zero_grad(set_to_none=False)
            out = cm.forward_losses(model, frames, sidx, step)
            F.cross_entropy(out["q_v"][:, ks:] / cfg.tau, torch.from_numpy(smo[idx])).backward()
            for p in model.parameters():
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            opt.step()
            model.push_queues(out["z"])
        else:
            out = cm.train_step(model, opt, frames, sidx, step=step)
        hist.append(dict(
            ts=out["target_s"].argmax(1).numpy(), qvs=out["q_v"][:, :ks].detach().argmax(1).numpy(),
            td=out["target_d"].argmax(1).numpy(), qvd=out["q_v"][:, ks:].detach().argmax(1).numpy(),
            bg=sbg[idx], mo=smo[idx],
            tsmax=out["target_s"].max(1).values.mean().item(), tdmax=out["target_d"].max(1).values.mean().item(),
            qs_std=out["q_s"].detach().std(1).mean().item(), qd_std=out["q_d"].detach().std(1).mean().item(),
            cos_v=offdiag_cos(out["z"]["v"]), cos_d=offdiag_cos(out["z"]["d"]),
            nce=out.get("loss_nce", torch.tensor(float("nan"))).item(),
            losses=[out[k].item() for k in ("loss_aln", "loss_fid", "loss_div", "loss_loc")]))
        if step % a.every == 0:
            h = hist[-a.every:]
            cat = {k: np.concatenate([x[k] for x in h]) for k in ("ts", "qvs", "td", "qvd", "bg", "mo")}
            mean = {k: float(np.mean([x[k] for x in h])) for k in ("tsmax", "tdmax", "qs_std", "qd_std", "cos_v", "cos_d", "nce")}
            loss = np.mean([x["losses"] for x in h], axis=0)
            report(step,
                   f"\n      static: agree {np.mean(cat['ts'] == cat['qvs']):.2f} purity {purity(cat['ts'], cat['bg']):.2f}"
                   f" tmax {mean['tsmax']:.2f} q-std {mean['qs_std']:.3f}"
                   f" | dynamic: agree {np.mean(cat['td'] == cat['qvd']):.2f} purity {purity(cat['td'], cat['mo']):.2f}"
                   f" tmax {mean['tdmax']:.2f} q-std {mean['qd_std']:.3f}"
                   f" | cos_v {mean['cos_v']:.3f} cos_d {mean['cos_d']:.3f} nce {mean['nce']:.2f}"
                   f" | aln {loss[0]:.3f} fid {loss[1]:.3f} div {loss[2]:.2f} loc {loss[3]:.3f} [{time.time() - t0:.0f} s]")


if __name__ == "__main__":
    main()
