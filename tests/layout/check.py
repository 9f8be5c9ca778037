#!/usr/bin/env python3
"""The seams of the tree, checked (make layout-check).

  1. core/ is OS-free: its files include only the ISO C headers below,
     ck, the public headers and the project's own (core/, shm/, and of
     platform/ its interface: nx_platform.h, nx_rcu.h, base/*.h), also
     through the core/ and shm/ headers they include; and its objects
     use only the C library functions below. What the port's inline
     headers (platform/*, reached through nx_platform.h and nx_rcu.h)
     call on core's behalf, such as clock_gettime in nx__clock_ns, is the
     port's: each use is told apart by the debug line table.
  2. No include cycle and no call cycle between files: the file-level
     include graph over core/ shm/ platform/ tools/ and the file-level
     reference graph of their objects (a symbol one object needs, defined
     by another) have no strongly connected component of two files or more.
  3. Layers run one way. From the bottom: shm/abi/ (declarations of the
     shared layouts, usable by all), platform/ (the port and base/), the
     rest of shm/ (libnx: links without core), core/ (nxd), shm/monitor/
     (the operators' side), tools/ (each tool uses no other tool's files).
     A file includes and calls only its own layer and those below.
  4. Names: a non-static symbol of core/, shm/ or platform/ is either
     declared by an installed header (include/nx/) or named nx__; a tool's
     is main, nx__ or the tool's own prefix (nxtop_ in tools/nxtop/,
     nxb_ in bench/, which is checked as a tool).

Usage: check.py [--obj build/obj] [--src .]   (objects from `make all`)
Exit status 1 when a seam is crossed; each line names file and symbol.
"""
import argparse
import os
import re
import subprocess
import sys

DIRS = ("core", "shm", "platform", "tools", "bench", "stages")

# stage packages (stages/NAME/): the prefix of their own symbols
PKG_PREFIX = {"retrieval": "nxr_"}

# ISO C headers core may include, and what of them it may call (below).
CORE_SYS_HEADERS = {
    "stdint.h", "stddef.h", "stdbool.h", "stdarg.h", "string.h", "limits.h",
    "inttypes.h", "ctype.h", "errno.h", "stdio.h", "stdlib.h",
}
CORE_PLATFORM_HEADERS = {"platform/nx_platform.h", "platform/nx_rcu.h"}

# The C library functions core may use: text, memory blocks, numbers.
LIBC_ALLOW = {
    # string.h
    "memcpy", "memmove", "memset", "memcmp", "bcmp",  # clang: memcmp() == 0
    "memchr", "memrchr", "strlen",
    "strnlen", "strcmp", "strncmp", "strchr", "strrchr", "strstr", "strspn",
    "strcspn", "strcpy", "strncpy", "strcat", "strncat", "strpbrk",
    # stdio.h: formatting into memory only
    "snprintf", "vsnprintf", "sprintf", "vsprintf",
    # stdlib.h: numbers and sorting
    "strtol", "strtoul", "strtoll", "strtoull", "strtod", "strtof", "strtold",
    "strtoimax", "strtoumax", "qsort", "bsearch", "abs", "labs", "llabs",
    # ctype.h, errno.h
    "__ctype_b_loc", "__ctype_tolower_loc", "__ctype_toupper_loc", "tolower",
    "toupper", "__errno_location",
}
# The compiler's and loader's runtime, not the OS.
RUNTIME_ALLOW = {
    "_GLOBAL_OFFSET_TABLE_", "__stack_chk_fail", "__tls_get_addr",
    "__cpu_model", "__cpu_indicator_init", "__udivti3", "__divti3",
    "__umodti3", "__modti3", "__udivmodti4", "__divmodti4", "__popcountdi2",
    "__popcountti2", "__clzdi2", "__ctzdi2", "__muloti4",
}
ALLOW_PREFIX = ("ck_",  # Concurrency Kit
                # the sanitizers' runtime, in ASan, UBSan and TSan builds
                "__asan_", "__ubsan_", "__tsan_", "__sanitizer_")

# What a forbidden symbol is, for the message.
ENV = {"getenv", "secure_getenv", "setenv", "unsetenv", "putenv", "clearenv", "environ"}
ALLOC = {"malloc", "calloc", "realloc", "reallocarray", "aligned_alloc",
         "posix_memalign", "memalign", "valloc", "pvalloc", "free", "strdup",
         "strndup", "asprintf", "vasprintf"}


def why(sym):
    base = unchk(sym)
    if base in ENV:
        return "environment: what nxd is told arrives in its configuration, filled by tools/"
    if base in ALLOC:
        return "allocation outside nx__mem_* (platform/nx_platform.h)"
    return "not in core's list of C library functions: an OS call belongs in platform/"


def unchk(sym):
    """__snprintf_chk -> snprintf, __isoc23_strtol -> strtol (fortify, C23 aliases)."""
    m = re.match(r"^__(\w+)_chk$", sym)
    if m:
        sym = m.group(1)
    m = re.match(r"^__isoc\d+_(\w+)$", sym)
    if m:
        sym = m.group(1)
    return sym


def core_allows(sym):
    base = unchk(sym)
    return base in LIBC_ALLOW or sym in RUNTIME_ALLOW or base.startswith(ALLOW_PREFIX)


# ---- sources ----

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def sources(src):
    out = []
    for d in DIRS:
        for root, _, files in os.walk(os.path.join(src, d)):
            for f in files:
                if f.endswith((".c", ".h")):
                    out.append(os.path.relpath(os.path.join(root, f), src))
    return sorted(out)


def includes(src, path):
    """[(kind, name, resolved project path or None, line)] of one file."""
    res = []
    with open(os.path.join(src, path), errors="replace") as f:
        for ln, line in enumerate(f, 1):
            m = INCLUDE_RE.match(line)
            if not m:
                continue
            kind, name = m.group(1), m.group(2)
            resolved = None
            if kind == '"':
                for base in (os.path.dirname(path), "", "include"):
                    cand = os.path.normpath(os.path.join(base, name))
                    if os.path.isfile(os.path.join(src, cand)):
                        resolved = cand
                        break
            res.append((kind, name, resolved, ln))
    return res


def top(path):
    return path.split("/", 1)[0]


# Layers, lowest first; a file uses its own layer's files and lower ones.
# shm/abi/ holds declarations only (layouts every process shares, like the
# kernel's uapi headers), so it sits below the port, which may use them.
# libnx (the rest of shm/) is below core/: it links without it; the
# operators' side (shm/monitor/) may use core/'s readers (hist).
LAYERS = ("abi", "platform", "libnx", "core", "monitor", "stages", "tools")


def layer(path):
    if path.startswith("bench/"):
        return "tools"  # nxbench is one more tool
    if path.startswith("shm/abi/"):
        return "abi"
    if path.startswith("shm/monitor/"):
        return "monitor"
    if path.startswith("shm/"):
        return "libnx"
    return top(path)


def tool(path):
    """tools/nxtop/x.c -> nxtop; bench/x.c -> bench."""
    parts = path.split("/")
    return parts[1] if parts[0] == "tools" else parts[0]


def layer_ok(user, used):
    lu, lv = layer(user), layer(used)
    if lu == "stages":  # a stage package: its own files and include/nx/ only
        return lv == "stages" and user.split("/")[1] == used.split("/")[1]
    if lu not in LAYERS or lv not in LAYERS:
        return True
    if lu == "tools" and lv == "tools":
        return tool(user) == tool(used)  # one tool uses no other's files
    return LAYERS.index(lv) <= LAYERS.index(lu)


def core_header_ok(kind, name, resolved):
    if kind == "<":
        return (name in CORE_SYS_HEADERS or re.match(r"^ck_\w+\.h$", name) is not None
                or name.startswith("nx/"))
    if resolved is None:
        return False
    if resolved.startswith(("core/", "shm/", "include/nx/", "platform/base/")):
        return not resolved.startswith("platform/base/") or resolved.endswith(".h")
    return resolved in CORE_PLATFORM_HEADERS


# ---- objects ----

def nm(obj, *args):
    out = subprocess.run(["nm", *args, obj], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def objects(objdir, src):
    """{source: object} for the objects whose source still exists."""
    res = {}
    for d in DIRS:
        for root, _, files in os.walk(os.path.join(objdir, d)):
            for f in files:
                if f.endswith(".o"):
                    o = os.path.join(root, f)
                    c = os.path.relpath(o, objdir)[:-2] + ".c"
                    if os.path.isfile(os.path.join(src, c)):
                        res[c] = o
    return res


def use_sites(obj, syms):
    """{sym: set(source files of the code that uses it)} from the line table."""
    out = subprocess.run(["objdump", "-d", "-l", "-r", "--no-show-raw-insn", obj],
                         capture_output=True, text=True, check=True).stdout
    cur = None
    sites = {}
    for line in out.splitlines():
        m = re.match(r"^(/?[^\s:]+\.[ch]):\d+", line)
        if m:
            cur = m.group(1)
            continue
        m = re.search(r"R_\w+\s+([\w.@]+?)(?:[-+]0x[0-9a-f]+)?$", line)
        if m and m.group(1) in syms:
            sites.setdefault(m.group(1), set()).add(cur)
    return sites


def tarjan(nodes, edges):
    index, low, stack, on, sccs = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
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
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return sorted(sccs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--obj", default="build/obj")
    ap.add_argument("--src", default=".")
    args = ap.parse_args()
    src, objdir = args.src, args.obj
    bad = []

    def fail(kind, msg):
        bad.append((kind, msg))

    # ---- includes ----
    files = sources(src)
    inc = {f: includes(src, f) for f in files}
    for f in files:
        if top(f) != "core":
            continue
        for kind, name, resolved, ln in inc[f]:
            if not core_header_ok(kind, name, resolved):
                shown = f"<{name}>" if kind == "<" else f'"{name}"'
                fail("core-include", f"{f}:{ln}: core includes {shown}: core/ is OS-free "
                     "(ISO C text headers, ck, nx/, core/, shm/, platform's interface only)")
        # through the core/ and shm/ headers it includes
        seen, todo = set(), [(r, [r]) for k, n, r, _ in inc[f]
                             if r and top(r) in ("core", "shm") and r.endswith(".h")]
        while todo:
            h, chain = todo.pop()
            if h in seen:
                continue
            seen.add(h)
            for kind, name, resolved, ln in inc.get(h, ()):
                if resolved and top(resolved) in ("core", "shm") and resolved.endswith(".h"):
                    todo.append((resolved, chain + [resolved]))
                elif not core_header_ok(kind, name, resolved) and top(h) != "core":
                    shown = f"<{name}>" if kind == "<" else f'"{name}"'
                    fail("core-include", f"{f}: core includes {shown} through "
                         + " -> ".join(chain) + f" (line {ln})")

    edges = {}
    for f in files:
        for kind, name, resolved, ln in inc[f]:
            if resolved is None or top(resolved) not in DIRS or resolved == f:
                continue
            edges.setdefault(f, set()).add(resolved)
            if not layer_ok(f, resolved):
                fail("layer", f"{f}:{ln}: {layer(f)} includes {resolved} ({layer(resolved)})")
    for comp in tarjan(files, edges):
        links = [f"{a} -> {b}" for a in comp for b in sorted(edges.get(a, ())) if b in comp]
        fail("include-cycle", f"include cycle among {' '.join(comp)}: " + "; ".join(links))

    # ---- objects ----
    objs = objects(objdir, src)
    if not objs:
        fail("objects", f"no objects under {objdir}: run make all first")
    defined, undef = {}, {}
    for f, o in objs.items():
        for line in nm(o, "--defined-only", "-g"):
            parts = line.split()
            if len(parts) >= 3:
                defined.setdefault(parts[2], []).append(f)
        undef[f] = [line.split()[-1] for line in nm(o, "-u") if line.strip()]

    def owner(user, sym):
        cands = defined.get(sym, [])
        if not cands:
            return None
        same = [c for c in cands if os.path.dirname(c) == os.path.dirname(user)]
        if same:
            return same[0]
        lib = [c for c in cands if layer(c) != "tools"]
        if layer(user) != "tools" or lib:
            return (lib or [None])[0]
        return cands[0]

    public = public_names(src)
    calls = {}
    for f in sorted(objs):
        external = []
        for sym in undef[f]:
            o = owner(f, sym)
            if o is None:
                external.append(sym)
                continue
            if o == f:
                continue
            calls.setdefault(f, {}).setdefault(o, []).append(sym)
            if layer(f) == "stages" and sym in public:
                continue  # the stage API (nx_ctx_set, ...), what nxd exports to plugins
            if not layer_ok(f, o):
                fail("layer", f"{f}: {layer(f)} calls {sym} of {o} ({layer(o)})")
        if top(f) != "core":
            continue
        suspects = [s for s in external if not core_allows(s)]
        if not suspects:
            continue
        sites = use_sites(objs[f], set(suspects))
        for sym in suspects:
            where = sites.get(sym) or {None}
            own = sorted(w for w in where if w is None or not port_inline(w, src))
            if own:
                fail("core-call", f"{f}: core calls {sym}: {why(sym)}")
    # ---- names: nx_ is the installed headers' alone ----
    for f, o in sorted(objs.items()):
        for line in nm(o, "--defined-only", "-g"):
            parts = line.split()
            if len(parts) < 3:
                continue
            sym = parts[2]
            if sym.startswith("__"):
                continue  # the compiler's own (ASan's __odr_asan.*), reserved to it
            if layer(f) == "stages":
                pkg = f.split("/")[1]
                pfx = PKG_PREFIX.get(pkg, pkg + "_")
                ok = sym.startswith(pfx) or sym == "nx_plugin"
                want = f"{pfx} (the package's prefix)"
            elif layer(f) == "tools":
                pfx = "nxb" if top(f) == "bench" else tool(f)
                ok = sym == "main" or sym.startswith(("nx__", pfx + "_"))
                want = f"nx__ or {pfx}_"
            else:
                ok = sym in public or sym.startswith("nx__")
                want = "nx__ (nx_ is for what include/nx/ declares)"
            if not ok:
                fail("name", f"{f}: {sym} is not static and not public: name it {want}")

    for comp in tarjan(list(objs), {a: set(b) for a, b in calls.items()}):
        links = [f"{a} -> {b} ({', '.join(sorted(set(calls[a][b])))})"
                 for a in comp for b in sorted(calls.get(a, {})) if b in comp]
        fail("call-cycle", f"call cycle among {' '.join(comp)}:\n      " + "\n      ".join(links))

    for kind, msg in bad:
        print(f"layout: {kind}: {msg}")
    kinds = {}
    for kind, _ in bad:
        kinds[kind] = kinds.get(kind, 0) + 1
    print("layout: " + (", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no seam crossed"))
    return 1 if bad else 0


def public_names(src):
    """Functions and variables the installed headers declare."""
    names = set()
    inc = os.path.join(src, "include", "nx")
    for h in sorted(os.listdir(inc)):
        if h.endswith(".h"):
            with open(os.path.join(inc, h)) as f:
                names.update(re.findall(r"\b(nx_\w+)\s*\(", f.read()))
    return names


def port_inline(path, src):
    """A use site in the port's headers (platform/) or in a system header
    reached through them (the include check keeps core from others)."""
    p = os.path.normpath(path)
    root = os.path.abspath(src)
    if p.startswith(root + os.sep):
        p = os.path.relpath(p, root)
    return p.startswith("platform/") or p.startswith("/usr/")


if __name__ == "__main__":
    sys.exit(main())
