#!/usr/bin/env python3
"""Checks the structure of the Rust core (rust/core/src), for `make check`.

On the production code only (what `#[cfg(test)]`, `#[test]` and the `testdata` feature leave
out: inline `mod tests { ... }`, files declared under such a cfg, test functions), with
comments and string and char literals skipped:

1. no import circle among the core's top-level modules (`a` of `crate::a::...`): every
   `crate::` and `super::` path (in `use` trees and inline) is an edge from the top-level
   module holding it to the one it names; every strongly connected component of more than
   one module is reported with the edges that form it (file:line of each use);
2. no function longer than MAX_FN_LINES lines, from its `fn` line to its closing brace
   (closures count within it, nested `fn` items count on their own);
3. no clock read (`Instant::now`, `SystemTime::now`, `Utc::now`, `OffsetDateTime::now_utc`,
   `.elapsed()`, ...) outside clock.rs.

Prints a short report and exits 1 on a violation. `--module-graph` prints the module edges
instead (`a -> b`, one a line), for the docs. Standard library only.
"""

import argparse
import itertools
import os
import signal
import sys

MAX_FN_LINES = 60
# Features that only tests turn on: code under them is not production.
TEST_FEATURES = {"testdata"}
# Attributes that make an item test-only by themselves (`#[test]`, `#[tokio::test]`, ...).
TEST_ATTRIBUTES = {"test", "bench"}
CLOCK_FILE = "clock.rs"
# `Type::method` pairs that read a clock.
CLOCK_TYPES = {"Instant", "SystemTime", "Utc", "Local", "OffsetDateTime", "PrimitiveDateTime",
               "Timestamp", "Zoned", "NaiveDateTime", "DateTime"}
CLOCK_METHODS = {"now", "now_utc", "now_local"}
# Free functions that read a clock (libc and the like).
CLOCK_FUNCTIONS = {"clock_gettime", "gettimeofday"}
# Methods that read a clock whatever their receiver (std's Instant/SystemTime::elapsed).
CLOCK_METHOD_CALLS = {"elapsed"}

CLOSE = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {")", "]", "}"}


class Tok:
    """kind: ident, lifetime, str, char, num or punct. A literal's val is only its kind
    marker (`""`, `''`), so that no literal reads as code; a string's contents are in text."""
    __slots__ = ("kind", "val", "line", "text")

    def __init__(self, kind, val, line, text=None):
        self.kind, self.val, self.line, self.text = kind, val, line, text

    def __repr__(self):
        return f"{self.kind}:{self.val!r}@{self.line}"


class LexError(Exception):
    pass


def _ident_start(c):
    return c == "_" or c.isalpha()


def _ident_char(c):
    return c == "_" or c.isalnum()


def lex(src):
    """Rust tokens without comments; string, char and number literals become one token
    each (their text is not kept). Idents include keywords; `r#x` gives `x`."""
    toks = []
    i, n, line = 0, len(src), 1

    def string_end(j):
        # j is just after the opening quote of a string with escapes; returns past the close.
        nonlocal line
        while j < n:
            c = src[j]
            if c == "\\":
                if j + 1 < n and src[j + 1] == "\n":
                    line += 1
                j += 2
                continue
            if c == "\n":
                line += 1
            elif c == '"':
                return j + 1
            j += 1
        raise LexError("unterminated string")

    def raw_string_end(j):
        # j is at the first '#' or '"' after the r/br/cr prefix.
        nonlocal line
        hashes = 0
        while j < n and src[j] == "#":
            hashes += 1
            j += 1
        if j >= n or src[j] != '"':
            raise LexError("bad raw string")
        close = '"' + "#" * hashes
        k = src.find(close, j + 1)
        if k < 0:
            raise LexError("unterminated raw string")
        line += src.count("\n", j, k)
        return k + len(close)

    def char_end(j):
        # j is at the opening quote of a char literal known to be one.
        if src[j + 1] == "\\":
            k = j + 2
            if src[k] == "u" and k + 1 < n and src[k + 1] == "{":
                k = src.index("}", k) + 1
            elif src[k] == "x":
                k += 3
            else:
                k += 1
            if k >= n or src[k] != "'":
                raise LexError("bad char literal")
            return k + 1
        return j + 3

    while i < n:
        c = src[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif src.startswith("//", i):
            k = src.find("\n", i)
            i = n if k < 0 else k
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    if src[j] == "\n":
                        line += 1
                    j += 1
            if depth:
                raise LexError("unterminated block comment")
            i = j
        elif _ident_start(c):
            j = i + 1
            while j < n and _ident_char(src[j]):
                j += 1
            word = src[i:j]
            nxt = src[j] if j < n else ""
            start_line = line
            if word in ("r", "br", "cr") and (nxt == '"' or (nxt == "#" and _raw_string_follows(src, j))):
                k = raw_string_end(j)
                hashes = len(src[j:k]) - len(src[j:k].lstrip("#"))
                toks.append(Tok("str", '""', start_line, src[j + hashes + 1:k - hashes - 1]))
                i = k
            elif word == "r" and nxt == "#" and j + 1 < n and _ident_start(src[j + 1]):
                k = j + 1
                while k < n and _ident_char(src[k]):
                    k += 1
                toks.append(Tok("ident", src[j + 1:k], line))
                i = k
            elif word in ("b", "c") and nxt == '"':
                k = string_end(j + 1)
                toks.append(Tok("str", '""', start_line, src[j + 1:k - 1]))
                i = k
            elif word == "b" and nxt == "'":
                i = char_end(j)
                toks.append(Tok("char", "''", line))
            else:
                toks.append(Tok("ident", word, line))
                i = j
        elif c.isdigit():
            j = i + 1
            while j < n and (_ident_char(src[j]) or (src[j] == "." and j + 1 < n and src[j + 1].isdigit()
                                                      and src[j - 1] != ".")):
                j += 1
            toks.append(Tok("num", src[i:j], line))
            i = j
        elif c == '"':
            start_line = line
            k = string_end(i + 1)
            toks.append(Tok("str", '""', start_line, src[i + 1:k - 1]))
            i = k
        elif c == "'":
            # A char literal ('x', '\n', '\u{..}', '{') or a lifetime/label ('a, 'static).
            if i + 1 < n and src[i + 1] == "\\":
                i = char_end(i)
                toks.append(Tok("char", "''", line))
            elif i + 2 < n and src[i + 2] == "'" and src[i + 1] != "\n":
                i += 3
                toks.append(Tok("char", "''", line))
            elif i + 1 < n and _ident_start(src[i + 1]):
                j = i + 2
                while j < n and _ident_char(src[j]):
                    j += 1
                toks.append(Tok("lifetime", src[i:j], line))
                i = j
            else:
                raise LexError(f"bad quote at line {line}")
        elif src.startswith("::", i):
            toks.append(Tok("punct", "::", line))
            i += 2
        elif src.startswith("->", i) or src.startswith("=>", i):
            toks.append(Tok("punct", src[i:i + 2], line))
            i += 2
        else:
            toks.append(Tok("punct", c, line))
            i += 1
    return toks


def _raw_string_follows(src, j):
    while j < len(src) and src[j] == "#":
        j += 1
    return j < len(src) and src[j] == '"'


def match_brackets(toks):
    """Index of the matching bracket for every bracket token (len(toks) when unclosed)."""
    match, stack = {}, []
    for i, t in enumerate(toks):
        if t.kind != "punct":
            continue
        if t.val in CLOSE:
            stack.append(i)
        elif t.val in CLOSERS:
            # Pops up to the matching opener (tolerates stray closers).
            while stack:
                j = stack.pop()
                if CLOSE[toks[j].val] == t.val:
                    match[j], match[i] = i, j
                    break
                match[j] = i
    for j in stack:
        match[j] = len(toks)
    return match


# --- cfg predicates -----------------------------------------------------------------------

def parse_cfg(toks, i, end):
    """Parses a cfg predicate in toks[i:end]; returns (tree, next index). A tree is
    ('atom', key) | ('any'|'all', [trees]) | ('not', tree)."""
    t = toks[i]
    if t.kind != "ident":
        raise ValueError("cfg")
    if t.val in ("any", "all", "not") and i + 1 < end and toks[i + 1].val == "(":
        items, j = [], i + 2
        while j < end and toks[j].val != ")":
            sub, j = parse_cfg(toks, j, end)
            items.append(sub)
            if j < end and toks[j].val == ",":
                j += 1
        j += 1
        if t.val == "not":
            return ("not", items[0]), j
        return (t.val, items), j
    if i + 2 < end and toks[i + 1].val == "=":
        # feature = "x"
        return ("atom", (t.val, toks[i + 2].text)), i + 3
    return ("atom", (t.val, None)), i + 1


def cfg_atoms(tree, out):
    if tree[0] == "atom":
        out.add(tree[1])
    elif tree[0] == "not":
        cfg_atoms(tree[1], out)
    else:
        for sub in tree[1]:
            cfg_atoms(sub, out)


def cfg_eval(tree, env):
    kind = tree[0]
    if kind == "atom":
        return env[tree[1]]
    if kind == "not":
        return not cfg_eval(tree[1], env)
    values = (cfg_eval(sub, env) for sub in tree[1])
    return any(values) if kind == "any" else all(values)


def cfg_test_only(tree):
    """True when no build without `test` (and without the test-only features) compiles it:
    `test` and those features are false, every other atom free."""
    atoms = set()
    cfg_atoms(tree, atoms)
    fixed = {}
    free = []
    for a in atoms:
        if a == ("test", None) or (a[0] == "feature" and a[1] in TEST_FEATURES):
            fixed[a] = False
        else:
            free.append(a)
    if len(free) > 12:
        return False
    for values in itertools.product((False, True), repeat=len(free)):
        env = dict(fixed)
        env.update(zip(free, values))
        if cfg_eval(tree, env):
            return False
    return True


# --- one source file ------------------------------------------------------------------------

class Source:
    def __init__(self, path, rel, module):
        self.path, self.rel, self.module = path, rel, module  # module: list of names
        with open(path, encoding="utf-8") as f:
            self.text = f.read()
        self.toks = lex(self.text)
        self.match = match_brackets(self.toks)
        self.test = [False] * len(self.toks)
        self.path_attrs = {}  # index of `mod` token -> #[path] value
        self.file_test_only = False
        self._mark_test_items()
        self.inline = self._inline_modules()

    def _attribute(self, i):
        """toks[i] is `#`: returns (inner, start of contents, end of contents, next index)
        or None."""
        toks, j = self.toks, i + 1
        inner = j < len(toks) and toks[j].val == "!"
        if inner:
            j += 1
        if j < len(toks) and toks[j].val == "[":
            close = self.match.get(j, len(toks))
            return inner, j + 1, close, close + 1
        return None

    def _attr_is_test(self, a, b):
        toks = self.toks
        if a >= b or toks[a].kind != "ident":
            return False
        # #[test], #[tokio::test], #[tokio::test(flavor = ..)], #[bench]
        path, j = [toks[a].val], a + 1
        while j + 1 < b and toks[j].val == "::" and toks[j + 1].kind == "ident":
            path.append(toks[j + 1].val)
            j += 2
        if path[-1] in TEST_ATTRIBUTES and (j == b or toks[j].val == "("):
            return True
        if path == ["cfg"] and j < b and toks[j].val == "(":
            try:
                tree, _ = parse_cfg(toks, j + 1, b)
            except (ValueError, IndexError):
                return False
            return cfg_test_only(tree)
        return False

    def _attr_path(self, a, b):
        toks = self.toks
        if b - a == 3 and toks[a].val == "path" and toks[a + 1].val == "=" and toks[a + 2].kind == "str":
            return toks[a + 2].text
        return None

    def _item_end(self, i):
        """toks[i] starts an item, statement, field, variant or arm: index of its last token."""
        toks, n = self.toks, len(self.toks)
        j = i
        # Leading modifiers, to find the keyword that says whether a block ends the item.
        while j < n:
            v = toks[j].val
            if v == "pub" and j + 1 < n and toks[j + 1].val == "(":
                j = self.match.get(j + 1, n) + 1
            elif v in ("pub", "unsafe", "async", "default", "extern") or toks[j].kind == "str":
                j += 1
            elif v == "const" and j + 1 < n and toks[j + 1].val in ("fn", "unsafe", "async", "extern"):
                j += 1
            else:
                break
        keyword = toks[j].val if j < n else ""
        to_semicolon = keyword in ("use", "const", "static", "type", "let", "crate")
        j = i
        while j < n:
            v = toks[j].val if toks[j].kind == "punct" else None
            if v == ";":
                return j
            if v == ",":
                return j - 1
            if v in CLOSERS:
                return j - 1  # the end of the enclosing list or block
            if v in CLOSE:
                close = self.match.get(j, n)
                if v == "{" and not to_semicolon:
                    # `X => { .. },`, `fn f() { .. }`: the block ends it.
                    return min(close, n - 1)
                j = close + 1
                continue
            j += 1
        return n - 1

    def _mark_test_items(self):
        toks, n, i = self.toks, len(self.toks), 0
        # The file's own inner attributes (`#![cfg(test)]`) come first.
        while i < n and toks[i].val == "#" and toks[i].kind == "punct":
            attr = self._attribute(i)
            if attr is None or not attr[0]:
                break
            _, a, b, i = attr
            if self._attr_is_test(a, b):
                self.file_test_only = True
        if self.file_test_only:
            self.test = [True] * n
            return
        while i < n:
            if toks[i].val != "#" or toks[i].kind != "punct" or self.test[i]:
                i += 1
                continue
            start, test, path_attr, j = i, False, None, i
            while j < n and toks[j].val == "#" and toks[j].kind == "punct":
                attr = self._attribute(j)
                if attr is None:
                    break
                inner, a, b, nxt = attr
                if inner:
                    start = nxt  # an inner attribute of a block or module: not of the item
                else:
                    test = test or self._attr_is_test(a, b)
                    path_attr = path_attr or self._attr_path(a, b)
                j = nxt
            if j >= n:
                break
            if path_attr and toks[j].val in ("mod", "pub"):
                k = j
                while k < n and toks[k].val != "mod":
                    k += 1
                self.path_attrs[k] = path_attr
            if test:
                end = self._item_end(j)
                for k in range(start, end + 1):
                    self.test[k] = True
                i = end + 1
            else:
                i = max(j, i + 1)

    def _inline_modules(self):
        """Per token, the names of the inline modules (`mod m { .. }`) around it."""
        toks, n = self.toks, len(self.toks)
        out, stack = [], []
        for i in range(n):
            while stack and i > stack[-1][0]:
                stack.pop()
            out.append(tuple(name for _, name in stack))
            if (toks[i].val == "mod" and i + 2 < n and toks[i + 1].kind == "ident"
                    and toks[i + 2].val == "{"):
                stack.append((self.match.get(i + 2, n), toks[i + 1].val))
        return out

    def module_at(self, i):
        return list(self.module) + list(self.inline[i])

    def child_mods(self):
        """(name, test_only, inline path, #[path] or None, line) of each `mod x;`."""
        toks = self.toks
        for i in range(len(toks) - 2):
            if (toks[i].kind == "ident" and toks[i].val == "mod" and toks[i + 1].kind == "ident"
                    and toks[i + 2].val == ";"):
                yield toks[i + 1].val, self.test[i], self.inline[i], self.path_attrs.get(i), toks[i].line


# --- the crate --------------------------------------------------------------------------------

class Crate:
    def __init__(self, src_dir):
        self.src_dir = src_dir
        self.sources = []  # production files (and lib.rs), in module order
        self.test_files = []
        self.errors = []
        self.modules = set()  # top-level modules
        self.reexports = {}  # name at the crate root -> top-level module it comes from
        self._walk()
        all_rs = set()
        for d, _, files in os.walk(src_dir):
            for f in files:
                if f.endswith(".rs"):
                    all_rs.add(os.path.normpath(os.path.join(d, f)))
        seen = {s.path for s in self.sources} | set(self.test_files)
        self.orphans = sorted(os.path.relpath(p, src_dir) for p in all_rs - seen)

    def _load(self, path, module):
        rel = os.path.relpath(path, self.src_dir)
        try:
            return Source(path, rel, module)
        except (LexError, IndexError, UnicodeDecodeError) as e:
            self.errors.append(f"{rel}: cannot read: {e}")
            return None

    def _walk(self):
        root = os.path.join(self.src_dir, "lib.rs")
        queue = [(os.path.normpath(root), [], True)]
        while queue:
            path, module, owns_dir = queue.pop(0)
            src = self._load(path, module)
            if src is None:
                continue
            if src.file_test_only:
                self.test_files.append(path)
                continue
            self.sources.append(src)
            if not module:
                self._read_root(src)
            base = os.path.dirname(path) if owns_dir else os.path.splitext(path)[0]
            for name, test, inline, path_attr, line in src.child_mods():
                if not module and not inline:
                    self.modules.add(name)
                d = os.path.join(base, *inline)
                if path_attr:
                    cands = [os.path.join(os.path.dirname(path) if not inline else d, path_attr)]
                else:
                    cands = [os.path.join(d, name + ".rs"), os.path.join(d, name, "mod.rs")]
                found = next((c for c in cands if os.path.isfile(c)), None)
                if found is None:
                    self.errors.append(f"{src.rel}:{line}: no file for `mod {name};`")
                    continue
                found = os.path.normpath(found)
                if test:
                    for d2, _, files in os.walk(os.path.splitext(found)[0] if not found.endswith("mod.rs")
                                                 else os.path.dirname(found)):
                        self.test_files.extend(os.path.normpath(os.path.join(d2, f))
                                               for f in files if f.endswith(".rs"))
                    self.test_files.append(found)
                    continue
                child_owns = path_attr is None and found.endswith(os.sep + "mod.rs")
                queue.append((found, module + list(inline) + [name], child_owns))

    def _read_root(self, src):
        for path, _line in use_paths(src):
            names = [s for s, _ in path]
            if len(names) >= 2 and names[0] in ("crate", "self"):
                names = names[1:]
            if len(names) >= 2 and names[-1] not in ("*", "self"):
                self.reexports[path.alias or names[-1]] = names[0]


class UsePath(list):
    alias = None


def use_paths(src):
    """Every path of the production `use` trees of a file: (UsePath of (segment, line),
    index of the `use` token)."""
    toks, n = src.toks, len(src.toks)
    for i, t in enumerate(toks):
        if t.kind == "ident" and t.val == "use" and not src.test[i]:
            out = []
            try:
                _use_tree(toks, i + 1, [], out)
            except IndexError:
                pass
            for p in out:
                yield p, i


def _use_tree(toks, i, prefix, out):
    segs = list(prefix)
    if toks[i].val == "::":
        i += 1
    while True:
        t = toks[i]
        if t.val == "{":
            i += 1
            while toks[i].val != "}":
                i = _use_tree(toks, i, segs, out)
                if toks[i].val == ",":
                    i += 1
                elif toks[i].val != "}":
                    raise IndexError("use tree")
            return i + 1
        if t.val == "*":
            p = UsePath(segs + [("*", t.line)])
            out.append(p)
            return i + 1
        if t.val == "$" and toks[i + 1].val == "crate":
            i += 1
            t = toks[i]
        if t.kind != "ident":
            raise IndexError("use tree")
        segs.append((t.val, t.line))
        i += 1
        if toks[i].val == "::":
            i += 1
            continue
        p = UsePath(segs)
        if toks[i].val == "as":
            p.alias = toks[i + 1].val
            i += 2
        out.append(p)
        return i


def _inline_path(toks, i):
    """The path starting at toks[i] (`crate`, `super` or `self`): [(segment, line)]."""
    segs = [(toks[i].val, toks[i].line)]
    j = i + 1
    while j + 1 < len(toks) and toks[j].val == "::" and toks[j + 1].kind == "ident":
        segs.append((toks[j + 1].val, toks[j + 1].line))
        j += 2
    return segs


def resolve(crate, module, segs):
    """The top-level module a path names, seen from `module`, with the line of the segment
    that says it: (module or None, line, note or None)."""
    head = segs[0][0]
    if head == "crate":
        base, rest = [], segs[1:]
    elif head in ("super", "self"):
        base, k = list(module), 0
        while k < len(segs) and segs[k][0] in ("super", "self"):
            if segs[k][0] == "super":
                if not base:
                    return None, segs[k][1], "`super` above the crate root"
                base.pop()
            k += 1
        rest = segs[k:]
        if base:
            return base[0], segs[k - 1][1], None
    else:
        return None, segs[0][1], None
    if not rest:
        return None, segs[-1][1], None
    name, line = rest[0]
    if name == "*":
        return None, line, "glob import of the crate root"
    if name in crate.modules:
        return name, line, None
    if name in crate.reexports:
        return crate.reexports[name], line, None
    return None, line, f"`crate::{name}` is no top-level module nor a re-export of the root"


def module_edges(crate, notes=None):
    """[(from, to, file, line)] between distinct top-level modules; what could not be
    resolved goes to notes."""
    edges = []
    notes = [] if notes is None else notes
    for src in crate.sources:
        if not src.module:
            continue  # the crate root only declares and re-exports
        top = src.module[0]
        toks = src.toks
        in_use = [False] * len(toks)
        for path, i in use_paths(src):
            to, line, note = resolve(crate, src.module_at(i), path)
            if note:
                notes.append(f"{src.rel}:{line}: {note}")
            if to and to != top:
                edges.append((top, to, src.rel, line))
        # Mark the `use` statements so their paths are not read twice.
        for i, t in enumerate(toks):
            if t.kind == "ident" and t.val == "use" and not src.test[i]:
                j = i
                while j < len(toks) and toks[j].val != ";":
                    in_use[j] = True
                    j += 1
        for i, t in enumerate(toks):
            if (t.kind == "ident" and t.val in ("crate", "super", "self") and not src.test[i]
                    and not in_use[i] and i + 1 < len(toks) and toks[i + 1].val == "::"
                    and not (i > 0 and toks[i - 1].val == "::")):
                to, line, note = resolve(crate, src.module_at(i), _inline_path(toks, i))
                if note:
                    notes.append(f"{src.rel}:{line}: {note}")
                if to and to != top:
                    edges.append((top, to, src.rel, line))
    return edges


def cycles(edges):
    """Strongly connected components of more than one module (Tarjan)."""
    graph = {}
    for a, b, _, _ in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return sorted(out)


def shortest_cycles(edges, comp):
    """The shortest cycle through each module of a component, each cycle once."""
    members = set(comp)
    graph = {}
    for a, b, _, _ in edges:
        if a in members and b in members:
            graph.setdefault(a, set()).add(b)
    seen, out = set(), []
    for start in comp:
        # Breadth first from start's successors back to start.
        prev, frontier, found = {start: None}, [start], None
        while frontier and found is None:
            nxt = []
            for v in frontier:
                for w in sorted(graph.get(v, ())):
                    if w == start:
                        found = v
                        break
                    if w not in prev:
                        prev[w] = v
                        nxt.append(w)
                if found is not None:
                    break
            frontier = nxt
        if found is None:
            continue
        cycle, v = [], found
        while v is not None:
            cycle.append(v)
            v = prev[v]
        cycle.reverse()
        k = cycle.index(min(cycle))
        key = tuple(cycle[k:] + cycle[:k])
        if key not in seen:
            seen.add(key)
            out.append(key)
    return sorted(out, key=lambda c: (len(c), c))


# --- functions and clock reads --------------------------------------------------------------

def functions(src):
    """(name, first line, lines, span) of each production fn with a body; `lines` leaves
    out the lines of nested fn items."""
    toks, n = src.toks, len(src.toks)
    spans = []
    for i, t in enumerate(toks):
        if t.kind != "ident" or t.val != "fn" or src.test[i]:
            continue
        if i + 1 >= n or toks[i + 1].kind != "ident":
            continue  # `fn(u8) -> u8`, a pointer type
        j = i + 2
        while j < n:
            v = toks[j].val if toks[j].kind == "punct" else None
            if v in ("(", "["):
                j = src.match.get(j, n) + 1
                continue
            if v in (";", "{"):
                break
            j += 1
        if j >= n or toks[j].val != "{":
            continue  # a declaration without a body
        close = src.match.get(j, n)
        end_line = toks[close].line if close < n else toks[-1].line
        spans.append((toks[i + 1].val, i, close, t.line, end_line))
    out = []
    for name, i, close, first, last in spans:
        lines = set(range(first, last + 1))
        for _, i2, close2, first2, last2 in spans:
            if i < i2 and close2 <= close:
                lines -= set(range(first2, last2 + 1))
        out.append((name, first, len(lines), last - first + 1))
    return out


def clock_reads(src):
    toks, n = src.toks, len(src.toks)
    for i, t in enumerate(toks):
        if t.kind != "ident" or src.test[i]:
            continue
        prev = toks[i - 1].val if i > 0 else ""
        if (t.val in CLOCK_TYPES and i + 2 < n and toks[i + 1].val == "::"
                and toks[i + 2].val in CLOCK_METHODS):
            yield t.line, f"{t.val}::{toks[i + 2].val}"
        elif t.val in CLOCK_FUNCTIONS and i + 1 < n and toks[i + 1].val == "(" and prev != "fn":
            yield t.line, f"{t.val}()"
        elif (t.val in CLOCK_METHOD_CALLS and prev == "." and i + 1 < n
              and toks[i + 1].val == "("):
            yield t.line, f".{t.val}()"


# --- report -----------------------------------------------------------------------------------

def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    default_src = os.path.join(os.path.dirname(here), "rust", "core", "src")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", default=default_src, help="the crate's src directory")
    ap.add_argument("--max-fn-lines", type=int, default=MAX_FN_LINES)
    ap.add_argument("--module-graph", action="store_true",
                    help="print the edges between top-level modules (a -> b) and exit")
    ap.add_argument("-v", "--verbose", action="store_true", help="also list test-only files")
    args = ap.parse_args(argv)

    crate = Crate(os.path.abspath(args.src))
    notes = []
    edges = module_edges(crate, notes)
    if args.module_graph:
        for a, b in sorted({(a, b) for a, b, _, _ in edges}):
            print(f"{a} -> {b}")
        return 0 if not crate.errors else 1

    failed = bool(crate.errors)
    name = os.path.relpath(crate.src_dir)
    print(f"structure of {name}: {len(crate.sources)} production files, "
          f"{len(set(crate.test_files))} test-only, {len(crate.modules)} top-level modules, "
          f"{len({(a, b) for a, b, _, _ in edges})} edges between them")
    for e in crate.errors:
        print(f"  error: {e}")
    for note in notes:
        print(f"  note: {note}")
    if crate.orphans:
        print(f"  note: not in the module tree (not checked): {', '.join(crate.orphans)}")
    if args.verbose:
        print(f"  test-only: {', '.join(sorted({os.path.relpath(p, crate.src_dir) for p in crate.test_files}))}")

    # 1. cycles
    comps = cycles(edges)
    if comps:
        failed = True
        print(f"FAIL module cycles: {len(comps)}")
        for comp in comps:
            members = set(comp)
            print(f"  cycle among {', '.join(comp)}:")
            where = {}
            for a, b, f, line in edges:
                if a in members and b in members:
                    where.setdefault((a, b), [])
                    if f"{f}:{line}" not in where[(a, b)]:
                        where[(a, b)].append(f"{f}:{line}")
            for (a, b), locs in sorted(where.items()):
                print(f"    {a} -> {b}: {', '.join(locs)}")
            print("    shortest cycle through each of them:")
            for cycle in shortest_cycles(edges, comp):
                print(f"      {' -> '.join(cycle + (cycle[0],))}")
    else:
        print("ok   module cycles: none")

    # 2. function length
    fns = [(length, src.rel, first, fname, span)
           for src in crate.sources for fname, first, length, span in functions(src)]
    over = sorted((f for f in fns if f[0] > args.max_fn_lines), key=lambda f: (-f[0], f[1], f[2]))

    def describe(f):
        length, rel, first, fname, span = f
        nested = f" ({span} with nested fn items)" if span != length else ""
        return f"{rel}:{first} fn {fname}: {length} lines{nested}"

    if over:
        failed = True
        print(f"FAIL functions over {args.max_fn_lines} lines: {len(over)}")
        for f in over:
            print(f"  {describe(f)}")
    else:
        print(f"ok   functions over {args.max_fn_lines} lines: none")
    if fns:
        print(f"     longest: {describe(max(fns, key=lambda f: (f[0], f[1])))}")

    # 3. clock reads
    clock = os.path.normpath(os.path.join(crate.src_dir, CLOCK_FILE))
    reads = [(src.rel, line, what) for src in crate.sources if os.path.normpath(src.path) != clock
             for line, what in clock_reads(src)]
    if reads:
        failed = True
        print(f"FAIL clock reads outside {CLOCK_FILE}: {len(reads)}")
        for rel, line, what in reads:
            print(f"  {rel}:{line} {what}")
    else:
        print(f"ok   clock reads outside {CLOCK_FILE}: none")
    return 1 if failed else 0


if __name__ == "__main__":
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under `| head`
    sys.exit(main())
