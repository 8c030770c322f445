#!/usr/bin/env bash
# Make this machine a test bed: the apt packages the tests need and a running
# Docker engine. Safe to run again: it installs only what is missing and starts
# dockerd only when no engine answers. No systemd here, so dockerd runs detached.
set -euo pipefail

packages=(docker.io mmdebstrap git git-lfs iproute2 tmux rsync)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[host] installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "[host] apt packages present"
fi

if docker info >/dev/null 2>&1; then
  echo "[host] docker engine answers"
  exit 0
fi
log=/var/log/trtllm-deploy-dockerd.log
echo "[host] starting dockerd (log: $log)"
setsid dockerd >"$log" 2>&1 < /dev/null &
for _ in $(seq 60); do
  docker info >/dev/null 2>&1 && { echo "[host] docker engine answers"; exit 0; }
  sleep 1
done
echo "[host] dockerd did not answer within 60 s; last lines of $log:" >&2
tail -n 20 "$log" >&2
exit 1
