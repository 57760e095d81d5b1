"""Tests of the `bucketcache` command-line tool (docs/cli.md), run by ctest (label cli).

python3 cli_test.py <bucketcache> <cli_fixture> <source-dir> [<python for the binding>]

Buckets are written by C++ (cli_fixture, over the core's FileStorage), Python (the binding,
BUCKETCACHE_LIBRARY set by ctest) and Node (the binding, koffi from NODE_PATH; skipped with a
reason when node or koffi is missing). Standard library only.
"""
import json
import os
import pty
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

CLI, FIXTURE, SRC = sys.argv[1], sys.argv[2], sys.argv[3]
BINDING_PYTHON = sys.argv[4] if len(sys.argv) > 4 else sys.executable
failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)


def run(*args, stdin=subprocess.DEVNULL, env=None, user=None):
    cmd = [CLI, *args]
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    p = subprocess.run(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def run_json(*args):
    rc, out, err = run(*args, "--json")
    try:
        return rc, json.loads(out), err
    except ValueError:
        check(False, "%s --json: not JSON: %r (stderr %r)" % (" ".join(args), out, err))
        return rc, None, err


def by_key(entries):
    return {json.dumps(e.get("key"), sort_keys=True) if e.get("key") is not None
            else "#" + e["digest"]: e for e in entries}


def entry_paths(bucket):
    out = []
    for shard in sorted(os.listdir(bucket)):
        d = os.path.join(bucket, shard)
        if len(shard) == 2 and os.path.isdir(d):
            out += [os.path.join(d, n) for n in sorted(os.listdir(d)) if n.endswith(".bce")]
    return out


def path_of(bucket, entries, key):
    for e in entries:
        if e.get("key") == key:
            return e["path"]
    raise KeyError(key)


def test_cpp(work):
    b = os.path.join(work, "cpp")
    subprocess.run([FIXTURE, b], check=True, stdout=subprocess.DEVNULL)
    rc, out, err = run("ls", b)
    check(rc == 0 and err == "", "ls: rc %d err %r" % (rc, err))
    for text in ('{"id":7,"user":"ada"}', '"spam"', "raw\\x00key", "msgpack", "(expired)",
                 "KEY", "SIZE", "CREATED", "EXPIRES"):
        check(text in out, "ls shows %r:\n%s" % (text, out))
    rc, entries, _ = run_json("ls", b)
    check(rc == 0 and len(entries) == 6, "ls --json: 6 entries, got %r" % (entries,))
    keys = by_key(entries)
    check(keys['{"id": 7, "user": "ada"}']["backend"] == "json", "json key as JSON value")
    check(keys['"raw\\\\x00key"']["key_format"] == "raw", "raw key escaped: %r" % list(keys))
    omitted = [e for e in entries if e["key_omitted"]]
    check(len(omitted) == 1 and omitted[0]["key"] is None, "one key-omitted entry")
    check("#" + omitted[0]["digest"] in out, "ls shows the digest of an omitted key")
    check(keys['"old"']["expired"] and not keys['"spam"']["expired"], "expired flags")
    check(keys['"spam"']["expires"].startswith("20") and keys['42']["expires"] is None,
          "expires times")
    rc, exp, _ = run_json("ls", b, "--expired")
    check(rc == 0 and [e["key"] for e in exp] == ["old"], "ls --expired: %r" % exp)
    rc, mp, _ = run_json("ls", b, "--backend", "msgpack")
    check([e["key"] for e in mp] == [42], "ls --backend msgpack: %r" % mp)
    rc, raw, _ = run_json("ls", b, "--key-format", "raw")
    check(len(raw) == 1 and raw[0]["backend"] == "raw", "ls --key-format raw")
    rc, srt, _ = run_json("ls", b, "--sort", "expires")
    check(srt[0]["key"] == "old" and srt[1]["key"] == "spam", "ls --sort expires: %r"
          % [e["key"] for e in srt])
    rc, srt, _ = run_json("ls", b, "--sort", "size")
    sizes = [e["size"] for e in srt]
    check(sizes == sorted(sizes), "ls --sort size")
    check(run("ls", b, "--sort", "colour")[0] == 2, "ls --sort colour: usage error")

    rc, j, _ = run_json("show", b, '{"user": "ada", "id": 7}')
    check(rc == 0 and j["value"] == {"a": 1} and j["backend"] == "json", "show json: %r" % j)
    rc, out, _ = run("show", b, '{"id":7,"user":"ada"}')
    check(rc == 0 and '"a": 1' in out and "backend:     json" in out, "show human:\n" + out)
    rc, j, _ = run_json("show", b, "42", "--backend", "msgpack")
    check(rc == 0 and j["value"] == {"x": [1, 2]}, "show msgpack as JSON: %r" % j)
    rc, j, _ = run_json("show", b, keys['"raw\\\\x00key"']["digest"], "--digest", "--hex")
    check(rc == 0 and j["value"] == "0102616263" and j["value_encoding"] == "hex",
          "show --digest --hex: %r" % j)
    rc, j, _ = run_json("show", b, keys['"raw\\\\x00key"']["digest"], "--digest")
    check(rc == 0 and j["value"] == "\\x01\\x02abc", "show raw escaped: %r" % j)
    rc, out, err = run("show", b, '"nothing"')
    check(rc == 1 and "no entry" in err and out == "", "show missing: rc %d %r" % (rc, err))
    rc, out, err = run("show", b, "not json{")
    check(rc == 2 and "not valid JSON" in err and len(err.splitlines()) == 1,
          "show bad JSON key: rc %d %r" % (rc, err))

    rc, s, _ = run_json("stats", b)
    check(rc == 0 and s["entries"] == 6 and s["expired"]["entries"] == 1 and s["corrupt"] == 0,
          "stats: %r" % s)
    check(s["by_backend"]["json"]["entries"] == 4 and s["by_backend"]["raw"]["entries"] == 1
          and s["by_key_format"]["raw"]["entries"] == 1, "stats by backend: %r" % s)
    check(s["shards"]["used"] >= 1 and s["shards"]["max"] >= 1, "stats shards")
    rc, out, _ = run("stats", b)
    check(rc == 0 and "entries:      6" in out and "shards:" in out, "stats human:\n" + out)
    check(s["counters"] == [{"backend": "json", "key_format": "json", "hits": 3, "misses": 2,
                             "writes": 6, "evictions": 0, "expired": 1}],
          "stats counters: %r" % s["counters"])
    check("counters" in out and "HITS" in out and "EVICTIONS" in out, "stats human counters:\n" + out)
    rc, s2, _ = run_json("stats", b, "--backend", "raw")
    check(rc == 0 and s2["counters"] == [], "stats counters filtered: %r" % s2)
    rc, d, _ = run_json("du", b)
    check(rc == 0 and d["entries"]["files"] == 6 and d["total"]["bytes"] >= d["entries"]["bytes"],
          "du: %r" % d)
    rc, out, _ = run("du", b)
    check(rc == 0 and "entries" in out and "ON DISK" in out, "du human")
    rc, v, _ = run_json("verify", b)
    check(rc == 0 and v["checked"] == 6 and v["problems"] == [], "verify clean: %r" % v)
    rc, out, _ = run("verify", b)
    check(rc == 0 and "6 entries checked, 0 problems" in out, "verify human: " + out)
    return b


def test_prune(work, src_bucket):
    b = os.path.join(work, "prune")
    shutil.copytree(src_bucket, b)
    rc, p, _ = run_json("prune", b, "--backend", "raw")
    check(rc == 0 and p["removed_entries"] == 0, "prune --backend raw keeps json: %r" % p)
    rc, p, _ = run_json("prune", b)
    check(rc == 0 and p["removed_entries"] == 1, "prune: %r" % p)
    rc, exp, _ = run_json("ls", b, "--expired")
    check(exp == [], "nothing expired after prune")
    rc, out, _ = run("prune", b)
    check(rc == 0 and "removed 0 expired entries" in out, "prune human: " + out)


def test_corrupt(work, src_bucket):
    b = os.path.join(work, "corrupt")
    shutil.copytree(src_bucket, b)
    rc, entries, _ = run_json("ls", b)
    payload = path_of(b, entries, "spam")   # value byte flipped: payload checksum
    header = path_of(b, entries, "old")     # header byte flipped: header checksum
    short = path_of(b, entries, 42)         # truncated: length
    with open(payload, "r+b") as f:
        f.seek(-1, 2)
        c = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([c[0] ^ 0xFF]))
    with open(header, "r+b") as f:  # flipped, not overwritten: the byte may hold 0xAA
        f.seek(50)
        c = f.read(1)
        f.seek(50)
        f.write(bytes([c[0] ^ 0xFF]))
    with open(short, "r+b") as f:
        f.truncate(os.path.getsize(short) - 1)
    # An entry copied to another entry's name: the name is not its key's digest.
    other = os.path.join(b, "ab", "ab" + "0" * 62 + ".bce")
    os.makedirs(os.path.dirname(other), exist_ok=True)
    shutil.copy(path_of(b, entries, "raw\\x00key"), other)
    # A stale temp file of a dead writer.
    temp = os.path.join(os.path.dirname(payload), ".tmp-1-0123456789abcdef")
    with open(temp, "wb") as f:
        f.write(b"half")
    os.utime(temp, (time.time() - 3600, time.time() - 3600))

    rc, out, err = run("ls", b)
    check(rc == 0 and "corrupt entry: " + header in err and "corrupt entry: " + short in err,
          "ls names corrupt entries on stderr: %r" % err)
    rc, s, _ = run_json("stats", b)
    check(s["corrupt"] == 2, "stats corrupt: %r" % s)
    rc, out, err = run("show", b, '"spam"')
    check(rc == 2 and err.strip() == "bucketcache: corrupt entry: " + payload,
          "show corrupt: rc %d %r" % (rc, err))
    rc, v, _ = run_json("verify", b)
    probs = {p["path"]: p["problem"] for p in v["problems"]}
    check(rc == 1 and len(probs) == 5, "verify finds 5 problems: rc %d %r" % (rc, probs))
    check(probs.get(payload) == "payload checksum mismatch", "payload problem")
    check(probs.get(header) == "damaged header or length", "header problem")
    check(probs.get(short) == "damaged header or length", "length problem")
    check("does not match the name" in probs.get(other, ""), "name problem: %r" % probs)
    check(probs.get(temp) == "stale temp file", "temp problem")
    check(all(os.path.exists(p) for p in (payload, header, short, other, temp)),
          "verify without --fix changes nothing")
    rc, out, _ = run("verify", b)
    check(rc == 1 and "5 problems" in out, "verify human: " + out)
    rc, v, _ = run_json("verify", b, "--fix")
    check(rc == 1 and all(p["fixed"] for p in v["problems"]), "verify --fix: %r" % v)
    check(not any(os.path.exists(p) for p in (payload, header, short, other, temp)),
          "verify --fix removed them")
    rc, v, _ = run_json("verify", b)
    check(rc == 0 and v["checked"] == 3, "verify after --fix: %r" % v)


def test_errors(work, src_bucket):
    plain = os.path.join(work, "plain")
    os.makedirs(plain)
    with open(os.path.join(plain, "notes.txt"), "w") as f:
        f.write("not a bucket\n")
    for cmd in ("ls", "stats", "verify", "prune", "du"):
        rc, out, err = run(cmd, plain)
        check(rc == 2 and "not a bucket" in err and len(err.splitlines()) == 1 and out == "",
              "%s on a non-bucket: rc %d %r" % (cmd, rc, err))
    check(os.listdir(plain) == ["notes.txt"], "a non-bucket directory is left alone")
    rc, _, err = run("ls", os.path.join(work, "missing"))
    check(rc == 2 and "No such file or directory" in err, "missing path: %r" % err)
    check(not os.path.exists(os.path.join(work, "missing")), "a missing bucket is not created")
    rc, _, err = run("ls", os.path.join(plain, "notes.txt"))
    check(rc == 2 and "not a directory" in err, "a file: %r" % err)
    rc, _, err = run("ls", "redis://127.0.0.1:1")
    check(rc == 2 and "--bucket" in err, "store URL without --bucket: %r" % err)
    check(run()[0] == 2, "no command: usage error")
    check(run("frobnicate", src_bucket)[0] == 2, "unknown command: usage error")
    check(run("ls")[0] == 2, "ls without BUCKET: usage error")
    rc, out, err = run("ls", src_bucket, "--bogus")
    check(rc == 2 and err.startswith("bucketcache: ") and len(err.splitlines()) == 1,
          "unknown option: one line: %r" % err)
    check(run("ls", src_bucket, "--quiet", "--progress")[0] == 2, "--quiet --progress")
    rc, out, _ = run("--help")
    check(rc == 0 and "ls" in out and "verify" in out, "--help")
    for cmd in ("ls", "show", "stats", "verify", "prune", "clear", "du"):
        rc, out, _ = run(cmd, "--help")
        check(rc == 0 and "BUCKET" in out, "%s --help" % cmd)

    # Permission denied: the bucket readable by root only, read as nobody.
    if os.geteuid() != 0:
        print("skip: permission-denied check needs root (to run as nobody)")
        return
    priv = tempfile.mkdtemp(prefix="bc-cli-perm-")
    try:
        os.chmod(priv, 0o755)
        b = os.path.join(priv, "bucket")
        shutil.copytree(src_bucket, b)
        os.chmod(b, 0o700)
        rc, out, err = run("--version", user="nobody")
        if rc != 0:
            print("skip: permission-denied check: nobody cannot run %s (%s)" % (CLI, err.strip()))
            return
        rc, out, err = run("ls", b, user="nobody")
        check(rc == 2 and "Permission denied" in err and len(err.splitlines()) == 1,
              "permission denied: rc %d %r" % (rc, err))
        # A readable root but an unreadable shard.
        os.chmod(b, 0o755)
        shard = os.path.dirname(entry_paths(b)[0])
        os.chmod(shard, 0o700)
        rc, out, err = run("stats", b, user="nobody")
        check(rc == 2 and "Permission denied" in err and shard in err,
              "unreadable shard: rc %d %r" % (rc, err))
    finally:
        shutil.rmtree(priv)


def test_clear(work, src_bucket):
    b = os.path.join(work, "clear")
    shutil.copytree(src_bucket, b)
    rc, out, err = run("clear", b)
    check(rc == 2 and "--yes" in err and len(entry_paths(b)) == 6,
          "clear refuses without --yes off a terminal: rc %d %r" % (rc, err))
    # On a terminal it asks; "n" keeps everything, "y" removes.
    for answer, left in ((b"n\n", 6), (b"y\n", 0)):
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(CLI, [CLI, "clear", b])
        os.write(fd, answer)
        text = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            text += chunk
        _, status = os.waitpid(pid, 0)
        check(os.waitstatus_to_exitcode(status) == 0 and b"[y/N]" in text,
              "clear asks on a terminal: %r" % text)
        check(len(entry_paths(b)) == left, "clear answered %r leaves %d" % (answer, left))
    b2 = os.path.join(work, "clear2")
    shutil.copytree(src_bucket, b2)
    rc, c, _ = run_json("clear", b2, "--yes", "--backend", "msgpack")
    check(rc == 0 and c["removed_entries"] == 1 and len(entry_paths(b2)) == 5, "clear --backend")
    rc, c, _ = run_json("clear", b2, "--yes")
    check(rc == 0 and c["removed_entries"] == 5 and entry_paths(b2) == [], "clear --yes: %r" % c)
    rc, entries, _ = run_json("ls", b2)
    check(rc == 0 and entries == [], "ls of a cleared bucket")


def stderr_on_pty(args, env):
    """Runs the tool with stderr on a pseudo-terminal; returns (rc, stdout, stderr text)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([CLI, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=slave, env=env)
    os.close(slave)
    out = p.stdout.read()
    rc = p.wait(timeout=60)
    text = b""
    while select.select([master], [], [], 0.2)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        text += chunk
    os.close(master)
    return rc, out.decode(), text.decode("utf-8", "replace")


def test_progress(src_bucket):
    env = dict(os.environ, BUCKETCACHE_PROGRESS_AFTER_MS="0")
    rc, out, err = stderr_on_pty(["ls", src_bucket], env)
    check(rc == 0 and "ls: [" in err and "6/6 entries" in err and "/s" in err,
          "progress bar on a terminal: %r" % err)
    check("entries" not in out, "progress stays off stdout")
    rc, out, err = stderr_on_pty(["ls", src_bucket, "--quiet"], env)
    check(rc == 0 and err == "", "--quiet: %r" % err)
    slow = dict(os.environ)
    slow.pop("BUCKETCACHE_PROGRESS_AFTER_MS", None)
    rc, out, err = stderr_on_pty(["verify", src_bucket], slow)
    check(rc == 0 and err == "", "a walk under a second draws nothing: %r" % err)
    rc, out, err = run("stats", src_bucket, env=env)
    check(rc == 0 and err == "", "no progress when stderr is not a terminal: %r" % err)
    rc, out, err = run("stats", src_bucket, "--progress")
    check(rc == 0 and "6/6 entries" in err, "--progress forces it: %r" % err)


def test_python(work):
    b = os.path.join(work, "python")
    code = """
import sys
from bucketcache import Bucket, JSONBackend, MessagePackBackend, RawBackend
j = Bucket(sys.argv[1], backend=JSONBackend)
j[("py", 1)] = {"lang": "python"}
j["a"] = [1, 2.5, None]
r = Bucket(sys.argv[1], backend=RawBackend)
r["bytes"] = b"\\x00\\xffraw"
try:
    import msgpack  # noqa: F401
except ImportError:
    print("skip: Python msgpack entry: no msgpack module in " + sys.executable)
    sys.exit(0)
m = Bucket(sys.argv[1], backend=MessagePackBackend)
m[{"k": "v"}] = {"packed": [True, 3]}
"""
    env = dict(os.environ, PYTHONPATH=os.path.join(SRC, "bindings", "python"),
               PYTHONDONTWRITEBYTECODE="1")
    p = subprocess.run([BINDING_PYTHON, "-c", code, b], env=env, stderr=subprocess.PIPE,
                       stdout=subprocess.PIPE)
    if p.returncode != 0:
        check(False, "Python writer failed: %s" % p.stderr.decode())
        return
    with_msgpack = b"skip" not in p.stdout
    if not with_msgpack:
        print(p.stdout.decode().strip())
    n = 4 if with_msgpack else 3
    rc, entries, _ = run_json("ls", b)
    keys = {json.dumps(e["key"]): e for e in entries}
    check(rc == 0 and len(entries) == n, "Python bucket: %d entries: %r" % (n, list(keys)))
    check(keys.get('["py", 1]', {}).get("backend") == "json", "Python json key")
    rc, j, _ = run_json("show", b, '["py",1]')
    check(rc == 0 and j["value"] == {"lang": "python"}, "show Python json: %r" % j)
    if with_msgpack:
        rc, j, _ = run_json("show", b, '{"k":"v"}', "--backend", "msgpack")
        check(rc == 0 and j["value"] == {"packed": [True, 3]}, "show Python msgpack: %r" % j)
    rc, j, _ = run_json("show", b, '"bytes"', "--backend", "raw", "--hex")
    check(rc == 0 and j["value"] == "00ff726177", "show Python raw --hex: %r" % j)
    rc, v, _ = run_json("verify", b)
    check(rc == 0 and v["checked"] == n, "verify Python bucket: %r" % v)


def test_node(work):
    node = shutil.which("node")
    if not node:
        print("skip: Node bucket: node not found")
        return
    probe = subprocess.run([node, "-e", "require('koffi')"], stderr=subprocess.DEVNULL)
    if probe.returncode != 0:
        print("skip: Node bucket: koffi not found (NODE_PATH=%s)" % os.environ.get("NODE_PATH"))
        return
    b = os.path.join(work, "node")
    code = """
const { Bucket } = require(process.argv[1]);
const r = new Bucket(process.argv[2], { backend: 'raw', keyFormat: 'raw' });
r.set('plain-raw', Buffer.from('hello'));
const m = new Bucket(process.argv[2], { backend: 'msgpack' });
m.set({ node: true }, [1, 'two']);
r.close(); m.close();
"""
    p = subprocess.run([node, "-e", code, os.path.join(SRC, "bindings", "node", "lib", "index.js"),
                        b], stderr=subprocess.PIPE)
    if p.returncode != 0:
        check(False, "Node writer failed: %s" % p.stderr.decode())
        return
    rc, entries, _ = run_json("ls", b, "--sort", "created")
    check(rc == 0 and [e["key"] for e in entries] == ["plain-raw", {"node": True}],
          "Node bucket: %r" % entries)
    rc, j, _ = run_json("show", b, "plain-raw", "--raw-key", "--backend", "raw")
    check(rc == 0 and j["value"] == "hello" and j["key_format"] == "raw", "show --raw-key: %r" % j)
    rc, out, _ = run("show", b, "plain-raw", "--raw-key", "--backend", "raw", "--hex")
    check(rc == 0 and "68656c6c6f" in out, "show raw --hex human: " + out)
    rc, j, _ = run_json("show", b, '{"node":true}', "--backend", "msgpack")
    check(rc == 0 and j["value"] == [1, "two"], "show Node msgpack: %r" % j)
    check(run("verify", b)[0] == 0, "verify Node bucket")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_redis(work):
    server = shutil.which("redis-server")
    if not server:
        print("skip: Redis store: redis-server not found")
        return
    port = free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", work], stdout=subprocess.DEVNULL)
    try:
        url = "redis://127.0.0.1:%d" % port
        code = """
import sys
from bucketcache import Bucket, JSONBackend
j = Bucket("clitest", backend=JSONBackend, store=sys.argv[1])
j["r1"] = {"v": 1}
j["r2"] = [2]
"""
        env = dict(os.environ, PYTHONPATH=os.path.join(SRC, "bindings", "python"),
                   PYTHONDONTWRITEBYTECODE="1")
        for _ in range(50):
            if subprocess.run([BINDING_PYTHON, "-c", code, url], env=env,
                              stderr=subprocess.DEVNULL).returncode == 0:
                break
            time.sleep(0.1)
        rc, entries, err = run_json("ls", url, "--bucket", "clitest")
        check(rc == 0 and sorted(e["key"] for e in entries) == ["r1", "r2"],
              "ls on Redis: %r %r" % (entries, err))
        rc, j, _ = run_json("show", url, '"r1"', "--bucket", "clitest")
        check(rc == 0 and j["value"] == {"v": 1}, "show on Redis: %r" % j)
        rc, v, _ = run_json("verify", url, "--bucket", "clitest")
        check(rc == 0 and v["checked"] == 2, "verify on Redis: %r" % v)
        rc, c, _ = run_json("clear", url, "--bucket", "clitest", "--yes")
        check(rc == 0 and c["removed_entries"] == 2, "clear on Redis: %r" % c)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main():
    work = tempfile.mkdtemp(prefix="bc-cli-")
    try:
        cpp = test_cpp(work)
        test_prune(work, cpp)
        test_corrupt(work, cpp)
        test_errors(work, cpp)
        test_clear(work, cpp)
        test_progress(cpp)
        if os.environ.get("BUCKETCACHE_CLI_TEST_BINDINGS") == "0":
            print("skip: Python, Node and Redis buckets: bindings are not tested in "
                  "sanitizer builds")
        else:
            test_python(work)
            test_node(work)
            test_redis(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d checks, %d failed" % (checks, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
