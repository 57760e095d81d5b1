#!/bin/sh
# scripts/install-deps.sh with every package present: exits 0, says so, and runs neither
# sudo nor apt-get nor dpkg (stand-ins on PATH record any call). As root it runs as the
# user nobody too, from a world-readable copy (the checkout may sit under a 0700 /root).
# Usage: run_deps_test.sh <source-dir>
set -eu
src="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir "$work/bin"
for tool in sudo apt-get apt dpkg; do
  printf '#!/bin/sh\necho "%s $*" >> "%s/calls"\nexit 1\n' "$tool" "$work" > "$work/bin/$tool"
  chmod 755 "$work/bin/$tool"
done
cp "$src/scripts/install-deps.sh" "$work/install-deps.sh"
touch "$work/calls"
chmod 666 "$work/calls"
chmod 644 "$work/install-deps.sh"

# The precondition: every package the script lists is installed here.
if ! bash "$work/install-deps.sh" > "$work/real.log" 2>&1 || ! grep -q "all packages present" "$work/real.log"; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: not every dependency is installed (and not root to install them):"
    cat "$work/real.log"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
  fi
  cat "$work/real.log"
  exit 1
fi

run() { # <description> <command...>
  desc="$1"; shift
  if ! "$@" > "$work/out.log" 2>&1; then
    echo "FAIL: $desc: install-deps.sh exited non-zero"; cat "$work/out.log"; exit 1
  fi
  grep -q "install-deps: all packages present" "$work/out.log" || {
    echo "FAIL: $desc: unexpected output"; cat "$work/out.log"; exit 1; }
  if [ -s "$work/calls" ]; then
    echo "FAIL: $desc: called package tools:"; cat "$work/calls"; exit 1
  fi
  echo "ok: $desc"
}
# dpkg-query is the real one (read-only); sudo, apt-get, apt and dpkg are the stand-ins.
run "as $(id -un)" env PATH="$work/bin:$PATH" bash "$work/install-deps.sh"
passed=1
if [ "$(id -u)" -eq 0 ] && id nobody > /dev/null 2>&1; then
  run "as nobody" su -s /bin/sh nobody -c "cd '$work' && PATH='$work/bin:$PATH' bash '$work/install-deps.sh'"
  passed=2
fi
echo "$passed passed, 0 failed"
