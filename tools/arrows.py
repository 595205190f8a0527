#!/usr/bin/env python3
"""arrows.py - checks the tree's include arrows against docs/layout.md.

Each folder is a room; a room may include the headers of the rooms listed
for it below (and its own). An include that points anywhere else fails, and
so does a circle of files: a .c and its .h count as one file (and its
_int.h, the internals it shares with the files it is split into), and a
file that includes another's header depends on it. A few system headers belong
to one file each (CONFINED): any other that includes one fails. Prints each
fault on a line and exits 1 when there is one; with -v it prints every
room's arrows."""
import os
import re
import sys

# room -> the rooms it may include (besides its own)
ALLOWED = {
    "bpf": [],
    "user/common": ["bpf"],
    "user/filter": ["user/common"],
    "user/tunnel": ["user/common"],
    "user/capture": ["user/filter", "user/common", "bpf"],
    "user/agent": ["user/capture", "user/filter", "user/tunnel", "user/common", "bpf"],
    "server/core": ["user/common"],
    "server/print": ["server/core", "user/common"],
    "server/service": ["server/core", "user/filter", "user/tunnel", "user/common"],
    "server/api": ["server/service", "server/print", "server/core", "user/filter", "user/tunnel",
                   "user/common"],
    "server": ["server/api", "server/service", "server/print", "server/core", "user/filter",
               "user/tunnel", "user/common"],
    "tools": ["server/print", "server/core", "user/capture", "user/filter", "user/tunnel",
              "user/common", "bpf"],
}
# system header -> the only files that may include it: the registry's storage
# engine stays behind its statement helpers (docs/scale.md)
CONFINED = {"sqlite3.h": ["server/service/registry_sqlite.c"],
            "libpq-fe.h": ["server/service/registry_pg.c"]}
ROOTS = {"user": "user", "server": "server", "bpf": "bpf"}  # where "x/y.h" resolves
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SYSTEM = re.compile(r'^\s*#\s*include\s+<([^>]+)>', re.M)


def room_of(path):
    d = os.path.dirname(path)
    while d and d not in ALLOWED:
        d = os.path.dirname(d)
    return d or None


def resolve(src, inc, files):
    """The tree's file an include names, or None (a system header)."""
    for base in [os.path.dirname(src), "user", "server", "bpf", "tools"]:
        cand = os.path.normpath(os.path.join(base, inc))
        if cand in files:
            return cand
    return None


def unit(path):
    # NAME_int.h is NAME's own, shared with the files NAME is split into
    if path.endswith("_int.h"):
        return path[:-6]
    return path[:-2] if path.endswith((".c", ".h")) else path


def main():
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(top)
    files = set()
    for r in ["bpf", "user", "server", "tools"]:
        for d, _, names in os.walk(r):
            files.update(os.path.join(d, n) for n in names if n.endswith((".c", ".h")))
    faults, edges, arrows = [], {}, {}
    for f in sorted(files):
        src_room = room_of(f)
        text = open(f, errors="replace").read()
        for inc in SYSTEM.findall(text):
            if inc in CONFINED and f not in CONFINED[inc]:
                faults.append(f"{f} includes <{inc}>: only {', '.join(CONFINED[inc])} may")
        for inc in INCLUDE.findall(text):
            to = resolve(f, inc, files)
            if not to:
                continue
            to_room = room_of(to)
            if to_room != src_room:
                arrows.setdefault(src_room, set()).add(to_room)
                if to_room not in ALLOWED.get(src_room, []):
                    faults.append(f"{f} includes {inc}: {src_room} may not point at {to_room}")
            if unit(to) != unit(f):
                edges.setdefault(unit(f), set()).add(unit(to))
    # circles: a depth-first search over the file graph
    state, stack = {}, []

    def visit(u):
        state[u] = 1
        stack.append(u)
        for v in sorted(edges.get(u, ())):
            if state.get(v) == 1:
                faults.append("circle: " + " -> ".join(stack[stack.index(v):] + [v]))
            elif not state.get(v):
                visit(v)
        stack.pop()
        state[u] = 2

    for u in sorted(edges):
        if not state.get(u):
            visit(u)
    if "-v" in sys.argv:
        for r in sorted(arrows):
            print(f"{r} -> {', '.join(sorted(arrows[r]))}")
    for x in faults:
        print(x)
    print(f"arrows: {len(files)} files, {sum(len(v) for v in edges.values())} includes, "
          f"{len(faults)} faults")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
