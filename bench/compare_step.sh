#!/usr/bin/env bash
# Times the same training step in conceptd (Swift) and PyTorch, side by side, and prints the ratio of clips/s.
# Both run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (OpenBLAS then uses its AVX-512 kernels).
#   bench/compare_step.sh [preset] [batch]        e.g. bench/compare_step.sh tiny 8; bench/compare_step.sh paper 2
# PyTorch comes from $TORCH_PYTHON (default /opt/torch-venv/bin/python; `pip install torch` in a venv outside the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-tiny}; batch=${2:-8}
py=${TORCH_PYTHON:-/opt/torch-venv/bin/python}
iters=7; [ "$preset" = paper ] && iters=3
swift_line=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .build/release/concept-bench step --preset "$preset" --batch "$batch" --iters "$iters" | tee /dev/stderr | grep '^RESULT')
if [ ! -x "$py" ]; then echo "no PyTorch at $py: set TORCH_PYTHON"; exit 1; fi
torch_line=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" bench/torch_step.py --preset "$preset" --batch "$batch" --iters "$iters" | tee /dev/stderr | grep '^RESULT')
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
s=$(field clips_per_s "$swift_line"); t=$(field clips_per_s "$torch_line")
echo "$swift_line"; echo "$torch_line"
python3 -c "print(f'ratio conceptd/PyTorch clips/s, preset $preset batch $batch: {float($s)/float($t):.2f}x')"
