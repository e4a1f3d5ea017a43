#!/usr/bin/env python3
"""Import circles between the modules of each crate (issue 17).

A module is a file under crates/<crate>/src (`a/mod.rs` and `a.rs` are
module `a`; `a/b.rs` is `a::b`). Module X uses module Y when X's text names
`crate::Y` (in a `use` or a path), `super::Y` resolving to another
module, or a child module by its bare name (`y::`), counted at the top-level module of each side within the
crate (so `api::users` using `api::pools` is no edge of `api`'s, while
`api::users` using `tokens` is an edge api -> tokens). A circle is a
strongly connected component of two or more top-level modules.

  python3 scripts/import_cycles.py          # report; exit 1 if any
  python3 scripts/import_cycles.py --deep   # the same, between all modules
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PATH_RE = re.compile(r"\bcrate::([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)")
SUPER_RE = re.compile(r"\bsuper::([a-z_][a-z0-9_]*)")


def modules(src: pathlib.Path):
    """module path (tuple) -> file text, tests excluded (#[cfg(test)] mod
    tests blocks use what they test, which is no design dependency)."""
    out = {}
    for f in src.rglob("*.rs"):
        rel = f.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "mod":
            parts = parts[:-1]
        if parts in (["lib"], ["main"]):
            parts = []
        text = f.read_text()
        cut = text.find("#[cfg(test)]\nmod tests")
        if cut >= 0:
            text = text[:cut]
        out[tuple(parts)] = text
    return out


def resolve(path_parts, known):
    """The longest known module prefix of a `crate::` path."""
    for n in range(len(path_parts), 0, -1):
        if tuple(path_parts[:n]) in known:
            return tuple(path_parts[:n])
    return None


def edges(mods, deep):
    known = set(mods)
    graph = {}
    for m, text in mods.items():
        here = m if deep else m[:1]
        targets = set()
        for p in PATH_RE.findall(text):
            t = resolve(p.split("::"), known)
            if t is not None:
                targets.add(t if deep else t[:1])
        # A child module named by its bare name (`federation::begin`).
        for child in known:
            if len(child) == len(m) + 1 and child[:len(m)] == m:
                if re.search(r"(?<![:\w])" + child[-1] + r"::", text):
                    targets.add(child if deep else child[:1])
        if m:
            for name in SUPER_RE.findall(text):
                t = resolve(list(m[:-1]) + [name], known)
                if t is not None:
                    targets.add(t if deep else t[:1])
        targets.discard(here)
        targets.discard(())
        if here:
            graph.setdefault(here, set()).update(targets)
    return graph


def cycles(graph):
    """Strongly connected components of size > 1 (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def main():
    deep = "--deep" in sys.argv
    found = 0
    for crate in sorted((ROOT / "crates").iterdir()):
        src = crate / "src"
        if not src.is_dir():
            continue
        for comp in cycles(edges(modules(src), deep)):
            found += 1
            print(f"{crate.name}: " + " <-> ".join("::".join(m) for m in comp))
    if not found:
        print("no import circles")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
