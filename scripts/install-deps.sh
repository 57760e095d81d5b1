#!/usr/bin/env bash
# Installs the Debian 12 packages bucketcache needs to build and test.
# Only packages that are missing are installed; nothing is downloaded from elsewhere.
# When nothing is missing it changes nothing and needs neither root nor sudo, so a
# developer can run scripts/test.sh and scripts/demo.sh as an ordinary user.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libboost-filesystem-dev libboost-serialization-dev
  libssl-dev libspdlog-dev libfmt-dev
  nlohmann-json3-dev libmsgpack-cxx-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  zlib1g-dev python3 python3-pytest python3-msgpack python3-diskcache abigail-tools binutils
  python3-setuptools python3-wheel python3-wheel-whl python3-venv python3-pip
  clang libclang-rt-14-dev
  redis-server redis-tools libhiredis-dev
  libcli11-dev
)

# Node.js and npm for the Node binding (Debian's packages, unless a node is already there).
if ! command -v node > /dev/null 2>&1 || ! command -v npm > /dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo > /dev/null 2>&1; then
    echo "install-deps: missing ${missing[*]}; run this script as root (or install sudo)" >&2
    exit 1
  fi
  SUDO=sudo
else
  SUDO=
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
