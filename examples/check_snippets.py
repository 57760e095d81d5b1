#!/usr/bin/env python3
"""Checks that the code snippets in docs/*.md match the examples they are taken from.

A snippet in a doc is marked by a comment line followed by a fenced code block:

    <!-- snippet: memoize_example.cpp#basic -->
    ```cpp
    ...
    ```

and must equal, line for line, the region of examples/memoize_example.cpp between
`// snippet-begin: basic` and `// snippet-end: basic` with its common indentation removed.
Usage: check_snippets.py <source-dir> [--update]. Exits 1 listing the snippets that
differ; with --update, rewrites the docs' snippets from the examples instead.
"""
import pathlib
import re
import sys
import textwrap

MARKER = re.compile(r"^<!-- snippet: ([\w.-]+)#([\w-]+) -->\s*$")


def region(path, name):
    lines = path.read_text(encoding="utf-8").splitlines()
    begin = f"// snippet-begin: {name}"
    end = f"// snippet-end: {name}"
    starts = [i for i, l in enumerate(lines) if l.strip() == begin]
    ends = [i for i, l in enumerate(lines) if l.strip() == end]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        return None
    return textwrap.dedent("\n".join(lines[starts[0] + 1 : ends[0]])).splitlines()


def main():
    args = [a for a in sys.argv[1:] if a != "--update"]
    update = "--update" in sys.argv[1:]
    root = pathlib.Path(args[0] if args else ".")
    errors = []
    checked = 0
    for doc in sorted((root / "docs").glob("*.md")):
        lines = doc.read_text(encoding="utf-8").splitlines()
        changed = False
        i = 0
        while i < len(lines):
            m = MARKER.match(lines[i])
            i += 1
            if not m:
                continue
            file, name = m.groups()
            if i >= len(lines) or not lines[i].startswith("```"):
                errors.append(f"{doc.name}:{i}: snippet marker not followed by a code block")
                continue
            j = i + 1
            while j < len(lines) and lines[j].rstrip() != "```":
                j += 1
            block = lines[i + 1 : j]
            i = j + 1
            want = region(root / "examples" / file, name)
            checked += 1
            if want is None:
                errors.append(f"{doc.name}: no region '{name}' in examples/{file}")
            elif [l.rstrip() for l in block] != [l.rstrip() for l in want]:
                if update:
                    lines[i - len(block) - 1 : i - 1] = want
                    i += len(want) - len(block)
                    changed = True
                else:
                    errors.append(f"{doc.name}: snippet {file}#{name} differs from the example")
        if changed:
            doc.write_text("\n".join(lines) + "\n", encoding="utf-8")
            print(f"updated {doc.name}")
    for e in errors:
        print(e)
    print(f"{checked} snippets checked, {len(errors)} problems")
    return 1 if errors or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
