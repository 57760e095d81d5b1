#!/usr/bin/env python3
"""Turns shared/testdata/canonical-keys.json into a line format a C test can read:
   V <hex input> <hex canonical>     a valid key and its canonical form
   I <hex input>                     an invalid key
Empty strings are written as '-'."""
import json
import sys


def hx(b):
    return b.hex() if b else "-"


def main(src, dst):
    with open(src, encoding="utf-8") as f:
        data = json.load(f)
    lines = []
    for v in data["valid"]:
        lines.append("V %s %s" % (hx(v["input"].encode("utf-8")), hx(v["canonical"].encode("utf-8"))))
    for v in data["invalid"]:
        lines.append("I %s" % hx(v["input"].encode("utf-8", "surrogatepass")))
    for v in data.get("invalid_hex", []):
        lines.append("I %s" % (v["input_hex"] or "-"))
    with open(dst, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
