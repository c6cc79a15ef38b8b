#!/usr/bin/env python3
"""Lists public and open declarations under Sources/ that have no `///` doc comment.

    python3 scripts/docs/undocumented-public.py [Sources]

A declaration counts as documented when the nearest line above it, skipping attribute lines
(`@discardableResult`, `@inlinable`, ...) and blank lines, is a `///` line or the end of a
`/** ... */` block. Exits 1 when it finds any, printing `path:line: declaration`.
"""
import pathlib
import re
import sys

DECLARATION = re.compile(r"^\s*(?:@[\w.()\":, ]+\s+)*(?:nonisolated(?:\(\w+\))?\s+)?(public|open)\s+(?!import\b)")
ATTRIBUTE = re.compile(r"^\s*@[\w.]+(\(.*\))?\s*$")


def undocumented(path: pathlib.Path):
    lines = path.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if not DECLARATION.match(line):
            continue
        # `public extension` documents its members, not itself; skip it as Swift's DocC does.
        if re.match(r"^\s*public\s+extension\b", line):
            continue
        above = index - 1
        while above >= 0 and (ATTRIBUTE.match(lines[above]) or not lines[above].strip()):
            if not lines[above].strip():
                break  # a blank line detaches any comment above it
            above -= 1
        previous = lines[above].strip() if above >= 0 else ""
        if previous.startswith("///") or previous.endswith("*/"):
            continue
        yield index + 1, line.strip()


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "Sources")
    found = 0
    for path in sorted(root.rglob("*.swift")):
        for line_number, text in undocumented(path):
            print(f"{path}:{line_number}: {text}")
            found += 1
    print(f"{found} undocumented public declaration(s)", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
