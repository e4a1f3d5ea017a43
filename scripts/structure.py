#!/usr/bin/env python3
"""Size limits of issue 17, checked on every run of the suite.

- No Rust source file (crates/*/src, crates/*/tests, crates/*/examples)
  over 800 lines.
- No function over 80 lines in the gateway's request path: every function
  of crates/gateway/src, except those that run once when an API is
  compiled at start-up (STARTUP below).

A function runs from its `fn` line to the brace that closes its body;
braces inside string and character literals and after `//` are not
counted, which is all the brace matching Rust source in this repository
needs (no raw strings with braces in the request path). This is a check
of our own code's shape, so a small script does it rather than a crate.

  python3 scripts/structure.py      # report; exit 1 if a limit is passed
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
MAX_FILE = 800
MAX_FN = 80
# (file under crates/gateway/src, function): start-up only, never per request.
STARTUP = {("lib.rs", "compile"), ("websocket/mod.rs", "compile")}

FN_RE = re.compile(
    r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?(?:const\s+)?(?:unsafe\s+)?fn\s+(\w+)"
)
STRING_RE = re.compile(r'"(?:\\.|[^"\\])*"')
CHAR_RE = re.compile(r"'(?:\\.|[^'\\])'")


def code_of(line: str) -> str:
    line = STRING_RE.sub('""', line)
    line = CHAR_RE.sub("''", line)
    return line.split("//")[0]


def functions(path: pathlib.Path):
    """(name, first line, length in lines) of each function with a body."""
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        m = FN_RE.match(line)
        if not m:
            continue
        depth, opened = 0, False
        for j in range(i, len(lines)):
            code = code_of(lines[j])
            for ch in code:
                if ch == "{":
                    depth += 1
                    opened = True
                elif ch == "}":
                    depth -= 1
            if opened and depth <= 0:
                yield m.group(1), i + 1, j - i + 1
                break
            if not opened and code.rstrip().endswith(";"):
                break  # a declaration without a body


def main() -> int:
    failures = []
    for f in sorted(ROOT.glob("crates/*/**/*.rs")):
        n = len(f.read_text().splitlines())
        if n > MAX_FILE:
            failures.append(f"{f.relative_to(ROOT)}: {n} lines (limit {MAX_FILE})")
    gateway = ROOT / "crates/gateway/src"
    for f in sorted(gateway.rglob("*.rs")):
        rel = f.relative_to(gateway).as_posix()
        for name, line, length in functions(f):
            if length > MAX_FN and (rel, name) not in STARTUP:
                failures.append(
                    f"crates/gateway/src/{rel}:{line}: fn {name} is {length} lines (limit {MAX_FN})"
                )
    for line in failures:
        print(line)
    if failures:
        return 1
    print(f"no file over {MAX_FILE} lines; no request-path function over {MAX_FN} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
