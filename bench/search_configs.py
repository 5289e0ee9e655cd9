#!/usr/bin/env python3
"""A fast search over training configurations of the concept learner, with the PyTorch model of the spec
(`bench/concept_model.py`), for a GPU: several configurations trained one after another (or a few at once, on CUDA
streams of one process), each probed the way `concept-bench learn` probes (Table 3 linear probes on a generated
probe set with camera nuisances, same-video retrieval on the real clips, concepts alive).

Two steps:

    # here: generated data (conceptctl make-dataset, with --nuisances camera) and the real clips, into one folder
    python bench/search_configs.py prepare --out .gpu --videos ../shared/data/videos
    # on the device: every configuration of --plan, results as JSON lines
    python bench/search_configs.py run --data .gpu --plan default --out $OUT/results.jsonl

The data folder holds `stream/` and `probe/` (make-dataset folders of 64 x 64 videos, decoded with OpenCV here or
there) and `real.npz` (17 frames at 16 fps, 64 x 64, four clips per real video at 1/8, 3/8, 5/8, 7/8 of its
length). A configuration is a name, `Config` fields and training options (`steps`, `batch`, `stride`, `lr_policy`,
`warmup`).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import warnings

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import concept_model as cm  # noqa: E402

MEAN = torch.tensor(cm.KINETICS_MEAN).view(1, 3, 1, 1, 1)
STD = torch.tensor(cm.KINETICS_STD).view(1, 3, 1, 1, 1)


# ---------------------------------------------------------------------------------------------------------------
# Data.


def decode_video(path: Path) -> np.ndarray:
    """All frames of a video as T x H x W x 3 RGB bytes (OpenCV if present, else the ffmpeg CLI)."""
    try:
        import cv2  # noqa: PLC0415
        cap = cv2.VideoCapture(str(path))
        frames = []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(f[:, :, ::-1])
        cap.release()
        if frames:
            return np.stack(frames)
    except ImportError:
        pass
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                            "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout
    w, h = (int(x) for x in probe.strip().split(",")[:2])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


def load_set(folder: Path):
    """A make-dataset folder: videos N x T x H x W x 3 (bytes), background and motion labels, train mask."""
    rows = [line.rstrip("\n").split("\t") for line in open(folder / "manifest.tsv")][1:]
    vids = [decode_video(folder / r[0]) for r in rows]
    t = min(v.shape[0] for v in vids)
    vids = np.stack([v[:t] for v in vids])
    bg = {b: i for i, b in enumerate(sorted({r[1] for r in rows}))}
    mo = {m: i for i, m in enumerate(sorted({r[2] for r in rows}))}
    return (vids, np.array([bg[r[1]] for r in rows]), np.array([mo[r[2]] for r in rows]),
            np.array([r[3] == "train" for r in rows]))


def prepare(out: Path, videos: Path, conceptctl: str, side: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, args in (("stream", ["--clips-per-pair", "16", "--seed", "11", "--test-fraction", "0"]),
                       ("probe", ["--clips-per-pair", "20", "--seed", "12", "--test-fraction", "0.5"])):
        if not (out / name / "manifest.tsv").exists():
            subprocess.run([conceptctl, "make-dataset", str(out / name), "--backgrounds", "6", "--motions", "6",
                            "--size", str(side), "--frames", "32", "--nuisances", "camera", "--overwrite", *args],
                           check=True)
    clips, labels, names = [], [], []
    for path in sorted(p for p in videos.iterdir() if p.suffix in (".mp4", ".mkv", ".avi", ".webm", ".flv", ".mov")):
        vf = f"fps=16,scale={side}:{side}:force_original_aspect_ratio=increase,crop={side}:{side}"
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vf", vf, "-f", "rawvideo", "-pix_fmt", "rgb24",
                              "-"], capture_output=True).stdout
        frames = np.frombuffer(raw, np.uint8).reshape(-1, side, side, 3)
        if frames.shape[0] == 0:
            print(f"skipped {path.name}: no frames")
            continue
        for pos in (0.125, 0.375, 0.625, 0.875):
            start = int(round(pos * frames.shape[0] - 8.5))
            idx = np.clip(np.arange(start, start + 17), 0, frames.shape[0] - 1)
            clips.append(frames[idx])
            labels.append(len(names))
        names.append(path.name)
    np.savez_compressed(out / "real.npz", clips=np.stack(clips), labels=np.array(labels), names=np.array(names))
    print(f"real.npz: {len(names)} videos, {len(clips)} clips")


def to_clips(frames_u8: torch.Tensor) -> torch.Tensor:
    """N x F x H x W x 3 bytes -> N x 3 x F x H x W, Kinetics-normalised floats (on the tensor's device)."""
    x = frames_u8.permute(0, 4, 1, 2, 3).float() / 255
    return (x - MEAN.to(x.device)) / STD.to(x.device)


# ---------------------------------------------------------------------------------------------------------------
# Probes.


def linear_probe(x: np.ndarray, y: np.ndarray, train: np.ndarray, seed: int = 0) -> float:
    """Test accuracy of a multinomial logistic regression on standardised features, its L2 penalty chosen on a
    quarter of the training rows (as the Swift probe does)."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415
    rng = np.random.default_rng(seed)
    tr = np.flatnonzero(train)
    rng.shuffle(tr)
    val, fit = tr[: len(tr) // 4], tr[len(tr) // 4:]
    sc = StandardScaler().fit(x[fit])
    best, best_c = -1.0, 1.0
    for c in (0.01, 0.1, 1.0, 10.0):
        clf = LogisticRegression(C=c, max_iter=500).fit(sc.transform(x[fit]), y[fit])
        acc = clf.score(sc.transform(x[val]), y[val])
        if acc > best:
            best, best_c = acc, c
    sc = StandardScaler().fit(x[train])
    clf = LogisticRegression(C=best_c, max_iter=500).fit(sc.transform(x[train]), y[train])
    return float(clf.score(sc.transform(x[~train]), y[~train]))


def retrieval_r1(x: np.ndarray, labels: np.ndarray) -> float:
    """Same-video R@1 by cosine of mean-centred features (each clip queries all others)."""
    x = x - x.mean(0, keepdims=True)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    return float(np.mean(labels[sim.argmax(1)] == labels))


def top_concept_average(q: torch.Tensor, local: torch.Tensor, cols: slice, fraction: float = 0.1) -> torch.Tensor:
    k = q[:, cols].shape[1]
    take = max(1, math.ceil(fraction * k - 1e-9))
    idx = q[:, cols].topk(take, dim=1).indices + (cols.start or 0)
    return torch.gather(local, 1, idx.unsqueeze(-1).expand(-1, -1, local.shape[-1])).mean(1)


@torch.no_grad()
def representations(model: cm.ConceptModel, clips: torch.Tensor, batch: int = 64, step: int = 1) -> dict[str, np.ndarray]:
    """v, q_v^s, q_v^d, F_v^s, F_v^d of every clip, in eval mode, as the model stands after `step - 1` steps (the step
    decides whether split heads still act as one, `v_heads_shared_steps`)."""
    model.eval()
    ks = model.cfg.ks
    parts: dict[str, list] = {k: [] for k in ("v", "q_v^s", "q_v^d", "F_v^s", "F_v^d")}
    for i in range(0, clips.shape[0], batch):
        x = clips[i:i + batch]
        out = cm.forward_losses(model, x, torch.zeros(x.shape[0], dtype=torch.long, device=x.device), step)
        q, loc = out["q_v"], out["F_v"]
        parts["v"].append(out["feat_v"])
        parts["q_v^s"].append(q[:, :ks])
        parts["q_v^d"].append(q[:, ks:])
        parts["F_v^s"].append(top_concept_average(q, loc, slice(0, ks)))
        parts["F_v^d"].append(top_concept_average(q, loc, slice(ks, q.shape[1])))
    model.train()
    return {k: torch.cat(v).double().cpu().numpy() for k, v in parts.items()}


# ---------------------------------------------------------------------------------------------------------------
# Configurations.

BASE = dict(widths=[16, 32, 64, 128], stem=11, ks=50, kd=50, topk=5, lr=0.01)
SPLIT = dict(difference="normalized", nce=1.0, nce_static=1.0, nce_queue=False, v_heads="split")
NORM2 = dict(difference="normalized", nce=1.0, nce_static=1.0, nce_queue=False)
B32 = dict(batch=32, steps=600, warmup=50, probe_at=[300, 600])
PLANS = {
    # name: (Config overrides, training options); most important first (a deadline may cut the plan short).
    "default": [
        ("demo-previous", dict(nce=1.0, queue_length=0), dict(probe_at=[0, 1000, 2000, 3000])),
        ("norm-nce2-q256", dict(difference="normalized", nce=1.0, nce_static=1.0, nce_queue=False), {}),
        ("split", SPLIT, dict(probe_at=[0, 500, 1000, 1500, 2000, 2500, 3000])),
        ("split-stride2", SPLIT, dict(stride=2)),
        ("split-rsqrt", SPLIT, dict(lr_policy="rsqrt")),
        ("split-aln-only", {**SPLIT, "alpha": 0.0, "beta": 0.0, "gamma": 0.0}, {}),
        ("split-static0.5", {**SPLIT, "nce_static": 0.5}, {}),
        ("split-tau0.2", {**SPLIT, "nce_tau": 0.2}, {}),
        ("split-lr0.03", {**SPLIT, "lr": 0.03}, {}),
        ("paper", {}, {}),
    ],
    # Batch 32 for 600 steps: about the clips the Swift learner sees in 30 minutes at 2 cores.
    "round2": [
        ("b32-norm-nce2", NORM2, B32),
        ("b32-reverse", {**NORM2, "nce_reverse": True}, B32),
        ("b32-gray", {**NORM2, "static_view": "gray"}, B32),
        ("b32-reverse-gray", {**NORM2, "nce_reverse": True, "static_view": "gray"}, B32),
        ("b32-supervised", NORM2, {**B32, "supervised": True}),
        ("b32-reverse-gray-stride2", {**NORM2, "nce_reverse": True, "static_view": "gray"}, {**B32, "stride": 2}),
    ],
    "cpu-bn": [
        ("bn-paper-s2", dict(sigma="bn", difference="normalized"), dict(stride=2, steps=300, probe_at=[0, 300])),
    ],
    "smoke": [("smoke", {**NORM2, "nce_reverse": True, "static_view": "gray"}, dict(steps=20, probe_at=[20])),
              ("smoke2", NORM2, dict(steps=20, probe_at=[20], supervised=True))],
}


INIT_LOCK = threading.Lock()


def learning_rate(base: float, step: int, policy: str, hold: int) -> float:
    if policy == "constant":
        return base
    if policy == "rsqrt":  # constant for `hold` steps, then base * sqrt(hold / step): endless, never zero
        return base * min(1.0, math.sqrt(hold / max(step, 1)))
    raise ValueError(f"unknown lr policy {policy!r}")


def run_config(name: str, overrides: dict, opts: dict, data: dict, device: torch.device, seed: int,
               deadline: float, emit) -> None:
    steps = opts.get("steps", 3000)
    batch = opts.get("batch", 8)
    stride = opts.get("stride", 1)
    warmup = opts.get("warmup", 200)
    policy = opts.get("lr_policy", "constant")
    probe_at = set(opts.get("probe_at", [1000, 2000, 3000]))
    cfg = cm.Config(**{**BASE, **overrides})
    with INIT_LOCK:  # the global RNG initialises the weights
        torch.manual_seed(seed)
        model = cm.ConceptModel(cfg).to(device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    opt = cm.make_optimizer(model)
    vids = data["stream"]  # N x T x H x W x 3 bytes on the device
    span = (9 - 1) * stride + 1
    probe_clips = data[f"probe_clips_{stride}"]
    real_clips = data[f"real_clips_{stride}"]
    hits = {"s": torch.zeros(cfg.ks, device=device), "d": torch.zeros(cfg.kd, device=device)}
    hit_window: list = []
    t0 = time.time()
    skipped = 0
    history = []

    def probe(step: int) -> None:
        f = representations(model, probe_clips, step=step + 1)
        r = representations(model, real_clips, step=step + 1)
        bg, mo, train = data["probe_bg"], data["probe_mo"], data["probe_train"]
        row = {"name": name, "step": step, "seconds": round(time.time() - t0, 1)}
        for k, x in f.items():
            row[f"bg {k}"] = round(100 * linear_probe(x, bg, train), 1)
            row[f"mo {k}"] = round(100 * linear_probe(x, mo, train), 1)
        row["R@1 v"] = round(100 * retrieval_r1(r["v"], data["real_labels"]), 1)
        if hit_window:
            alive_s = float((torch.stack([h[0] for h in hit_window]).sum(0) > 0).float().mean())
            alive_d = float((torch.stack([h[1] for h in hit_window]).sum(0) > 0).float().mean())
            row["alive s"], row["alive d"] = round(100 * alive_s), round(100 * alive_d)
        row["skipped"] = skipped
        row["steps/s"] = round(step / max(time.time() - t0, 1e-9), 1)
        if history:
            last = np.mean(history[-50:], axis=0)
            row["losses"] = {k: round(float(v), 3) for k, v in zip(("aln", "fid", "div", "loc", "nce", "nce_s"), last)}
        emit(row)

    if 0 in probe_at:
        probe(0)
    for step in range(1, steps + 1):
        if time.time() > deadline:
            emit({"name": name, "step": step, "stopped": "deadline"})
            probe(step - 1)
            return
        cfg.use_local = step > warmup
        for g in opt.param_groups:
            g["lr"] = learning_rate(cfg.lr, step, policy, opts.get("hold", 1000))
        idx = torch.randint(0, vids.shape[0], (batch,), generator=gen)
        starts = torch.randint(0, vids.shape[1] - span + 1, (batch,), generator=gen)
        frames = torch.stack([vids[i, s:s + span:stride] for i, s in zip(idx.tolist(), starts.tolist())])
        frames = to_clips(frames)
        sidx = torch.randint(0, 8, (batch,), generator=gen).to(device)
        model.train()
        opt.zero_grad(set_to_none=False)
        out = cm.forward_losses(model, frames, sidx, step)
        if opts.get("supervised"):  # control: cross-entropy of q_v^d / tau on the motion label
            labels = data["stream_mo"][idx.to(device)]
            out["loss_total"] = F.cross_entropy(out["q_v"][:, cfg.ks:] / cfg.tau, labels)
        if not torch.isfinite(out["loss_total"]):
            skipped += 1
            continue
        out["loss_total"].backward()
        for p in model.parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        opt.step()
        model.push_queues(out["z"])
        with torch.no_grad():
            hs = torch.zeros(cfg.ks, device=device).index_add_(0, out["q_s"].topk(cfg.topk, 1).indices.reshape(-1),
                                                                torch.ones(batch * cfg.topk, device=device))
            hd = torch.zeros(cfg.kd, device=device).index_add_(0, out["q_d"].topk(cfg.topk, 1).indices.reshape(-1),
                                                                torch.ones(batch * cfg.topk, device=device))
        hit_window.append((hs, hd))
        if len(hit_window) > 1000:
            hit_window.pop(0)
        if step % 10 == 0:
            history.append([out[k].item() if k in out else 0.0 for k in
                            ("loss_aln", "loss_fid", "loss_div", "loss_loc", "loss_nce", "loss_nce_static")])
        if step in probe_at:
            probe(step)


def main_run(a) -> None:
    warnings.filterwarnings("ignore")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    t_start = time.time()
    deadline = t_start + a.minutes * 60
    sv, _, smo, _ = load_set(a.data / "stream")
    pv, pbg, pmo, ptrain = load_set(a.data / "probe")
    real = np.load(a.data / "real.npz")
    print(f"data: stream {sv.shape}, probe {pv.shape}, real {real['clips'].shape} in {time.time() - t_start:.1f} s "
          f"on {device}", flush=True)
    data = {"stream": torch.from_numpy(sv).to(device), "stream_mo": torch.from_numpy(smo).to(device), "probe_bg": pbg, "probe_mo": pmo, "probe_train": ptrain,
            "real_labels": real["labels"]}
    mid = (pv.shape[1] - 17) // 2
    for stride in (1, 2):
        span = 8 * stride + 1
        off = mid + (17 - span) // 2
        data[f"probe_clips_{stride}"] = to_clips(torch.from_numpy(pv[:, off:off + span:stride].copy()).to(device))
        roff = (17 - span) // 2
        data[f"real_clips_{stride}"] = to_clips(torch.from_numpy(real["clips"][:, roff:roff + span:stride].copy()).to(device))
    lock = threading.Lock()
    out = open(a.out, "a") if a.out else None

    def emit(row: dict) -> None:
        with lock:
            line = json.dumps(row)
            print(line, flush=True)
            if out:
                out.write(line + "\n")
                out.flush()

    plan = PLANS[a.plan]
    if a.only:
        plan = [p for p in plan if p[0] in a.only.split(",")]
    jobs = list(plan)

    def worker() -> None:
        stream = torch.cuda.Stream() if device.type == "cuda" else None
        while True:
            with lock:
                if not jobs:
                    return
                name, overrides, opts = jobs.pop(0)
            try:
                if stream is not None:
                    with torch.cuda.stream(stream):
                        run_config(name, overrides, opts, data, device, a.seed, deadline, emit)
                else:
                    run_config(name, overrides, opts, data, device, a.seed, deadline, emit)
            except Exception as e:  # noqa: BLE001
                emit({"name": name, "error": repr(e)})

    threads = [threading.Thread(target=worker) for _ in range(a.parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"done in {time.time() - t_start:.0f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--videos", type=Path, required=True)
    p.add_argument("--conceptctl", default=".build/release/conceptctl")
    p.add_argument("--side", type=int, default=64)
    r = sub.add_parser("run")
    r.add_argument("--data", type=Path, required=True)
    r.add_argument("--plan", default="default", choices=sorted(PLANS))
    r.add_argument("--only", default="", help="comma-separated configuration names of the plan")
    r.add_argument("--out", type=Path)
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--minutes", type=float, default=8.5, help="deadline for the whole plan")
    r.add_argument("--parallel", type=int, default=1, help="configurations trained at once (CUDA streams, threads)")
    a = ap.parse_args()
    if a.cmd == "prepare":
        prepare(a.out, a.videos, a.conceptctl, a.side)
    else:
        main_run(a)


if __name__ == "__main__":
    main()
