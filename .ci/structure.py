#!/usr/bin/env python3
"""Structure checks of proxy/src (issue 25), run first by `./sluice-dev test` because they are cheap.

1. No non-test function longer than 120 lines, counted from the line of its `fn` to the line of its
   closing brace. Test code is skipped: files named tests.rs, and items marked #[cfg(test)] or
   #[test] (a `mod tests { ... }` block whole). A function that cannot be split yet goes on
   .ci/long-functions.allow, one `path::name  reason` a line; an entry that no longer offends is an
   error too, so the list can only shrink.
2. `Result<_, String>` in non-test code (internal errors are types; strings only at the edge) may
   not exceed the number in .ci/string-errors.ceiling, which is lowered as they go.

Usage: .ci/structure.py [--list] [--root DIR]
  --list      print every long function and every String-error site, allowed or not
  --root DIR  check DIR (holding proxy/src and .ci/) instead of this checkout: for its tests
Exit status 1 lists the offenders.
"""

import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SRC = "proxy/src"
MAX_LINES = 120
ALLOW = ".ci/long-functions.allow"
CEILING = ".ci/string-errors.ceiling"


def blank_literals(text):
    """The text with comments, string and char literals replaced by spaces (newlines kept), so
    that braces and `fn` inside them are not code. Lifetimes ('a) are left alone."""
    out = []
    i, n = 0, len(text)

    def blank(s):
        out.append(re.sub(r"[^\n]", " ", s))

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(text[i:j])
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(text[i:j])
            i = j
        elif (m := re.compile(r'b?r(#*)"').match(text, i)) and not _ident_before(text, i):
            close = '"' + m.group(1)
            j = text.find(close, m.end())
            j = n if j < 0 else j + len(close)
            blank(text[i:j])
            i = j
        elif c == '"' or (text.startswith('b"', i) and not _ident_before(text, i)):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(text[i : j + 1])
            i = j + 1
        elif c == "'" or (text.startswith("b'", i) and not _ident_before(text, i)):
            start = i + (2 if c == "b" else 1)
            if text.startswith("\\", start):
                j = text.find("'", start + 2)
            elif start + 1 < n and text[start + 1] == "'":
                j = start + 1
            else:  # a lifetime or a loop label
                out.append(text[i:start])
                i = start
                continue
            blank(text[i : j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _ident_before(text, i):
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")


def matching(code, open_at, opening="{", closing="}"):
    """Index of the bracket closing the one at open_at (or len(code) when it never closes)."""
    depth = 0
    for j in range(open_at, len(code)):
        if code[j] == opening:
            depth += 1
        elif code[j] == closing:
            depth -= 1
            if depth == 0:
                return j
    return len(code)


TEST_ATTR = re.compile(r"#\[\s*(cfg\s*\(\s*test\s*\)|test)\s*\]")


def test_spans(code):
    """(start, end) offsets of the items marked #[cfg(test)] or #[test]: through the item's
    closing brace, or its `;` when it has no body (`mod tests;`)."""
    spans = []
    for m in TEST_ATTR.finditer(code):
        j = m.end()
        while j < len(code) and code[j] not in "{;":
            j += 1
        end = matching(code, j) if j < len(code) and code[j] == "{" else j
        spans.append((m.start(), end))
    return spans


FN = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")


def functions(code):
    """(name, first line, last line) of every function with a body outside test items."""
    spans = test_spans(code)
    found = []
    for m in FN.finditer(code):
        if any(a <= m.start() <= b for a, b in spans):
            continue
        # The body opens at the first `{` before any `;` (a trait method without a body ends
        # at `;`). Generic bounds and where clauses hold no braces in this code base.
        j = m.end()
        while j < len(code) and code[j] not in "{;":
            j += 1
        if j >= len(code) or code[j] == ";":
            continue
        end = matching(code, j)
        first = code.count("\n", 0, m.start()) + 1
        last = code.count("\n", 0, end) + 1
        found.append((m.group(1), first, last))
    return found


RESULT = re.compile(r"\bResult\s*<")


def string_errors(code):
    """Line numbers of `Result<T, String>` outside test items (the last argument is String)."""
    spans = test_spans(code)
    lines = []
    for m in RESULT.finditer(code):
        if any(a <= m.start() <= b for a, b in spans):
            continue
        depth, j, last_arg = 0, m.end() - 1, m.end()
        while j < len(code):
            c = code[j]
            if c == "<":
                depth += 1
            elif c == ">" and code[j - 1] != "-":  # `->` in Fn(..) -> T is not a bracket
                depth -= 1
                if depth == 0:
                    break
            elif c in "([":
                j = matching(code, j, c, ")" if c == "(" else "]")
            elif c == "," and depth == 1:
                last_arg = j + 1
            elif c in ";{":
                break
            j += 1
        if last_arg > m.end() and code[last_arg:j].strip() in ("String", "std::string::String"):
            lines.append(code.count("\n", 0, m.start()) + 1)
    return lines


def sources():
    for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, SRC)):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".rs") and name != "tests.rs":
                path = os.path.join(dirpath, name)
                yield os.path.relpath(path, ROOT), path


def read_allow_list():
    """{path::name: reason} from the allow-list; a line without a reason is an error."""
    allowed, errors = {}, []
    path = os.path.join(ROOT, ALLOW)
    if not os.path.exists(path):
        return allowed, errors
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, reason = line.partition(" ")
            if not reason.strip():
                errors.append(f"{ALLOW}:{number}: `{key}` has no reason")
            allowed[key] = reason.strip()
    return allowed, errors


def read_ceiling():
    with open(os.path.join(ROOT, CEILING), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                return int(line)
    raise SystemExit(f"structure: {CEILING} holds no number")


def main(argv):
    global ROOT
    verbose = "--list" in argv
    if "--root" in argv:
        ROOT = argv[argv.index("--root") + 1]
    allowed, errors = read_allow_list()
    long_fns, allowed_seen, sites = [], set(), []
    for rel, path in sources():
        with open(path, encoding="utf-8") as f:
            code = blank_literals(f.read())
        for name, first, last in functions(code):
            length = last - first + 1
            if length <= MAX_LINES:
                continue
            key = f"{rel}::{name}"
            if key in allowed:
                allowed_seen.add(key)
            long_fns.append((key, rel, first, length, key in allowed))
        sites += [(rel, line) for line in string_errors(code)]

    offenders = [f for f in long_fns if not f[4]]
    for key, rel, first, length, ok in long_fns:
        if verbose or not ok:
            mark = "allowed" if ok else "TOO LONG"
            print(f"structure: {mark}: {rel}:{first}: fn {key.split('::')[-1]} is {length} lines")
    for key in sorted(set(allowed) - allowed_seen):
        errors.append(f"{ALLOW}: `{key}` is no longer over {MAX_LINES} lines (or gone): remove it")
    if offenders:
        errors.append(
            f"{len(offenders)} function(s) in {SRC} over {MAX_LINES} lines: split them "
            f"(or, if they cannot be split yet, list them in {ALLOW} with a reason)"
        )

    ceiling = read_ceiling()
    if verbose:
        for rel, line in sites:
            print(f"structure: Result<_, String>: {rel}:{line}")
    if len(sites) > ceiling:
        for rel, line in sites:
            print(f"structure: Result<_, String>: {rel}:{line}")
        errors.append(
            f"{len(sites)} `Result<_, String>` in {SRC}, over the ceiling of {ceiling} in "
            f"{CEILING}: return a typed error (thiserror) instead"
        )
    elif len(sites) < ceiling:
        print(f"structure: {len(sites)} `Result<_, String>` now, under the ceiling of {ceiling}: lower {CEILING}")

    for e in errors:
        print(f"structure: {e}", file=sys.stderr)
    if not errors:
        print(
            f"structure: ok ({len(allowed)} allowed long function(s), "
            f"{len(sites)} Result<_, String> of at most {ceiling})"
        )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
