"""Shared-head checkpoint -> split heads started as the shared head (identity linear layers)."""
import sys
import numpy as np
from safetensors.numpy import load_file, save_file
src, dst = sys.argv[1], sys.argv[2]
w = load_file(src)
c = w["sigma_v.weight"].shape[0]
out = {k: v for k, v in w.items() if not k.startswith("sigma_v.")}
for h in ("sigma_vs", "sigma_vd"):
    out[f"{h}.0.weight"] = np.eye(c, dtype=np.float32)
    out[f"{h}.0.bias"] = np.zeros(c, dtype=np.float32)
    for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
        out[f"{h}.1.{name}"] = w[f"sigma_v.{name}"].copy()
save_file(out, dst)
print(len(w), "->", len(out))
