#!/usr/bin/env bash
# The GPU benchmark, for a CUDA machine that cannot reach any package registry.
#
#   bash benchmarks/gpu.sh [DATA]     # DATA: the CIFAR-10 parquet folder (default ../shared/data/cifar10)
#   bash benchmarks/gpu.sh --tiny     # smoke test on the CPU (shapes, a few steps; results in benchmarks/cache)
#
# Uses the machine's python and torch (a venv with --system-site-packages), installs the
# project from this checkout with --no-deps, then whatever else it lacks from the git-ignored
# .whl/ folder (fill it beforehand with `pip download -d .whl setuptools wheel accelerate datasets ...`
# on a machine with the same Python: setuptools and wheel build the editable installs; lightly
# is optional: without it the lightly rows are n/a).
# Then benchmarks/gpu.py measures and writes benchmarks/results/gpu.{json,md}. About 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-benchmarks/cache/gpu-venv}  # VENV=.venv: use an environment that exists (the CPU smoke test)
PACKAGES=(core plugins/augment plugins/losses plugins/shapes plugins/simclr plugins/moco plugins/byol)

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv --system-site-packages "$VENV"
fi
pip=("$VENV/bin/python" -m pip install --quiet --no-index --find-links .whl)
for package in "${PACKAGES[@]}"; do editable+=(-e "$package"); done
"${pip[@]}" --no-deps "${editable[@]}"
# the requirements of the installed packages that this environment does not satisfy yet
missing=$("$VENV/bin/python" - <<'PY'
from importlib import metadata
from packaging.requirements import Requirement

seen, missing = set(), []
for dist in ("ssl-core", "ssl-augment", "ssl-losses", "ssl-shapes", "ssl-simclr", "ssl-moco", "ssl-byol"):
    for text in metadata.requires(dist) or []:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}) or req.name in seen:
            continue
        seen.add(req.name)
        try:
            if metadata.version(req.name) not in req.specifier:
                missing.append(str(req))
        except metadata.PackageNotFoundError:
            missing.append(str(req))
print(" ".join(f"'{m}'" for m in missing))
PY
)
if [ -n "$missing" ]; then
  echo "installing from .whl/: $missing"
  eval "${pip[@]@Q}" "$missing"
fi
if ls .whl/lightly-*.whl >/dev/null 2>&1; then
  "${pip[@]}" --no-deps lightly || echo "lightly could not be installed: its rows are n/a"
fi
"$VENV/bin/python" benchmarks/gpu.py "$@"
