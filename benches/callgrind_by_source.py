#!/usr/bin/env python3
"""Where a callgrind profile's instructions go, by source file.

Inlining hides most of coring's hot path inside two functions
(`Task::run` and `Core::turn`), so a per-function report says little.
Callgrind also records the source file and line of every instruction
(the inlined callee's, not the caller's), which this script sums.

Usage:
    benches/callgrind_by_source.py PROFILE DIVISOR [--files N]

PROFILE is a callgrind output file (for example a dump that
`benches/net_callgrind.sh` left under its output folder); DIVISOR is the
number of requests or ops in it, so the figures are per request. The
report groups files into coring's own parts (executor, op table, op
futures, driver, net/fs, benches), the io-uring crate, and Rust's
standard library (moves, Option/Result, Rc/RefCell, bounds checks),
then lists the N busiest files.

Works on profiles written with or without `--dump-instr=yes` and with
or without `--compress-strings`/`--compress-pos`.
"""

import collections
import sys


def parse(path):
    """Self instruction counts per source file (calls' costs excluded)."""
    per_file = collections.Counter()
    names = {}  # compressed "(id) name" strings
    cur_file = None  # the file of the current function (fl=)
    src = None  # the file the next cost lines belong to (fi=/fe=)
    skip_next = False  # the line after calls= is the call's inclusive cost

    def name(value):
        value = value.strip()
        if value.startswith("("):
            ident, _, rest = value.partition(")")
            rest = rest.strip()
            if rest:
                names[ident] = rest
            return names.get(ident, value)
        return value

    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("fl="):
                cur_file = name(line[3:])
                src = cur_file
            elif line.startswith(("fi=", "fe=")):
                src = name(line[3:])
            elif line.startswith("fn="):
                src = cur_file
            elif line.startswith("calls="):
                skip_next = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                if skip_next:
                    skip_next = False
                    continue
                fields = line.split()
                # With --dump-instr=yes: address, line, cost; else line, cost.
                if fields and fields[0].startswith(("0x", "+", "-", "*")) and len(fields) >= 3:
                    cost = fields[2]
                elif len(fields) >= 2:
                    cost = fields[1]
                else:
                    continue
                if cost.isdigit():
                    per_file[src or "?"] += int(cost)
    return per_file


def category(path):
    p = path.replace("\\", "/")
    if "io-uring-" in p:
        return "io-uring crate (SQE/CQE access)"
    if "/library/" in p or p.startswith("/rustc/"):
        return "Rust std, inlined (moves, Option, Rc/RefCell, bounds)"
    if "/runtime/src/executor/" in p:
        return "coring executor (task run, queue, wake)"
    if p.endswith(("/driver/table.rs", "/op/lifecycle.rs")):
        return "coring op table + lifecycle"
    if "/runtime/src/op/" in p or p.endswith("/runtime/src/fd.rs"):
        return "coring op futures (submit/poll/complete)"
    if "/runtime/src/" in p:
        return "coring driver, turn, context"
    if "/net/src/" in p or "/fs/src/" in p:
        return "coring net/fs"
    if "/benches/" in p:
        return "bench code (the server or loop itself)"
    return "other"


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    path, divisor = args[0], float(args[1])
    top = 15
    if "--files" in args:
        top = int(args[args.index("--files") + 1])
    per_file = parse(path)
    total = sum(per_file.values())
    cats = collections.Counter()
    for p, v in per_file.items():
        cats[category(p)] += v
    print(f"{total / divisor:8.1f}  total per unit ({path})")
    for c, v in cats.most_common():
        print(f"{v / divisor:8.1f}  {c}")
    print()
    for p, v in per_file.most_common(top):
        short = p if len(p) <= 70 else "..." + p[-67:]
        print(f"{v / divisor:8.1f}  {short}")


if __name__ == "__main__":
    main()
