#!/usr/bin/env bash
# Installs lst's build and test dependencies from Debian 12 packages, then
# builds build/lst and build/liblst.a. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(build-essential pkg-config libopenblas-dev libcjson-dev libxxhash-dev libsentencepiece-dev valgrind librsvg2-bin libpng-dev)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
make -j"$(nproc)"
