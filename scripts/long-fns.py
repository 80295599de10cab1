#!/usr/bin/env python3
"""Lists every `fn` under src/ longer than N lines (default 60).

A function runs from its `fn` line to the first later line that is a closing
brace at the same indent. Usage: scripts/long-fns.py [N] [DIR]
"""
import os
import re
import sys

LIMIT = int(sys.argv[1]) if len(sys.argv) > 1 else 60
ROOT = sys.argv[2] if len(sys.argv) > 2 else "src"
FN = re.compile(r"^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)")

rows = []
for dirpath, _, files in os.walk(ROOT):
    for name in files:
        if not name.endswith(".rs"):
            continue
        path = os.path.join(dirpath, name)
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        for i, line in enumerate(lines):
            m = FN.match(line)
            if not m or line.rstrip().endswith(";"):
                continue
            indent = m.group(1)
            for j in range(i + 1, len(lines)):
                if lines[j].startswith(indent + "}"):
                    if j - i + 1 > LIMIT:
                        rows.append((j - i + 1, path, i + 1, m.group(2)))
                    break
for length, path, line, name in sorted(rows, reverse=True):
    print(f"{length:4} {path}:{line} {name}")
