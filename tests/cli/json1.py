#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""json1.py [EXPR] - stdin must be exactly one JSON document (UTF-8, no NaN
or Infinity, nothing after it but one newline); EXPR, a Python expression
over the parsed document `d`, must then be true. Exit 0 or 1 with a reason.

json1.py --batch DIR - the same for every DIR/NAME.json, with the expression
in DIR/NAME.expr (one interpreter start for many cases)."""
import json
import os
import sys


def reject(name):
    raise ValueError("non-standard JSON constant " + name)


def check(raw, expr):
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        print("not UTF-8: %s: %r" % (e, raw[:200]))
        return 1
    if not text.endswith("\n") or text.count("\n") != 1:
        print("not one line ending in a newline: %r" % text[:400])
        return 1
    try:
        d = json.loads(text, parse_constant=reject)
    except ValueError as e:
        print("not one JSON document: %s: %r" % (e, text[:400]))
        return 1
    try:
        ok = expr is None or eval(expr, {}, {"d": d})
    except (KeyError, TypeError, IndexError) as e:
        ok = False
        print("check raised %r" % e)
    if not ok:
        print("check failed: %s on %s" % (expr, text[:400]))
        return 1
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--batch":
        bad = 0
        names = sorted(n[:-5] for n in os.listdir(sys.argv[2]) if n.endswith(".json"))
        for n in names:
            base = os.path.join(sys.argv[2], n)
            with open(base + ".json", "rb") as f, open(base + ".expr") as e:
                if check(f.read(), e.read().strip()):
                    what = ""
                    if os.path.exists(base + ".what"):
                        with open(base + ".what") as w:
                            what = w.read().strip()
                    print("  in case %s: %s" % (n, what))
                    bad = 1
        print("%d documents checked" % len(names))
        return bad
    return check(sys.stdin.buffer.read(), sys.argv[1] if len(sys.argv) > 1 else None)


sys.exit(main())
