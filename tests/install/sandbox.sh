#!/bin/sh
# Usage: sandbox.sh <scratch-dir> <command> [args...]
# Runs <command> as root in a private mount namespace in which /usr, /etc and /var are
# copy-on-write overlays whose changes live in a tmpfs: whatever the command installs
# (apt-get install, cmake --install into /usr/local, ldconfig) is visible to it alone and
# gone when it exits; the machine and processes outside never see it.
# BUCKETCACHE_SANDBOX_OVERLAYS: more directories (space-separated) to overlay the same way,
# e.g. the prefix of a python3 that is not under /usr.
# Exits 77 without running the command when that cannot be done (not root, no unshare or
# overlayfs); otherwise with the command's status.
set -eu
if [ "${BUCKETCACHE_IN_SANDBOX:-}" != 1 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "sandbox: needs root" >&2
    exit 77
  fi
  if ! command -v unshare > /dev/null 2>&1 || ! unshare -m --propagation private true 2> /dev/null; then
    echo "sandbox: cannot make a private mount namespace (unshare -m)" >&2
    exit 77
  fi
  BUCKETCACHE_IN_SANDBOX=1 exec unshare -m --propagation private sh "$0" "$@"
fi
scratch="$1"
shift
upper="$scratch/sandbox-overlays"
mkdir -p "$upper"
if ! mount -t tmpfs bucketcache-sandbox "$upper"; then
  echo "sandbox: cannot mount a tmpfs" >&2
  exit 77
fi
n=0
for d in /usr /etc /var ${BUCKETCACHE_SANDBOX_OVERLAYS:-}; do
  [ -d "$d" ] || continue
  n=$((n + 1))
  mkdir -p "$upper/$n/upper" "$upper/$n/work"
  if ! mount -t overlay overlay -o "lowerdir=$d,upperdir=$upper/$n/upper,workdir=$upper/$n/work" "$d"; then
    echo "sandbox: cannot mount an overlay on $d" >&2
    exit 77
  fi
done
BUCKETCACHE_IN_SANDBOX=
export BUCKETCACHE_IN_SANDBOX
exec "$@"
