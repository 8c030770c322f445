#!/usr/bin/env bash
# Create .venv with the pinned toolchain and this project installed editable.
# Re-runs are no-ops unless requirements-dev.txt or pyproject.toml changed.
set -euo pipefail
venv=${1:-.venv}
stamp="$venv/.requirements.sha256"
want=$(cat requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "[venv] up to date"
  exit 0
fi
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q -r requirements-dev.txt
"$venv/bin/pip" install -q --no-deps -e .
echo "$want" > "$stamp"
echo "[venv] ready"
