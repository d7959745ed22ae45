"""Summarise a py-spy profile (``--format raw``: one collapsed stack and its sample
count per line, as ``bench/api_load.py --profile FILE`` writes it): the share of samples
spent under each part of a request (inclusive: a sample counts for every part on its
stack) and the top frames by own time.

    .venv/bin/python bench/profile_top.py /tmp/profile.txt [--top 15]
"""

from __future__ import annotations

import argparse
import collections
import re

# Part of a request -> a pattern that a frame under it matches.
PARTS = {
    "whole request (Flask.wsgi_app)": r"^Flask\.wsgi_app ",
    "waitress / gunicorn outside Flask": None,
    "token check (current_user)": r"^current_user \(api/auth\.py",
    "session open/save": r"flask/sessions\.py|SessionInterface",
    "CSRF (flask_wtf, csrf_for_cookie_sessions)": r"flask_wtf|csrf_for_cookie_sessions",
    "talisman (CSP, nonce, headers)": r"flask_talisman",
    "observability (request log, metrics)": r"api/observability\.py",
    "connection checkout (pool, pre-ping)": r"sqlalchemy/pool/|_checkout|do_ping",
    "SQL execute (database wait included)": r"^Connection\.execute ",
    "  of which in the driver (do_execute)": r"do_execute ",
    "commit / close (teardown)": r"^init_app\.<locals>\._finish \(api/db\.py",
    "input parsing (webargs, marshmallow)": r"^Parser\.parse ",
    "output (marshmallow dump, JSON)": r"^APIScaffold\.output\.<locals>\.decorator\.<locals>"
                                       r"\._jsonify ",
    "JSON encoding": r"flask/json/provider|json/encoder|orjson",
    "geo.facilities.nearest": r"geo/facilities/nearest\.py",
}


def summarise(path: str, top: int) -> str:
    parts: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    total = 0
    patterns = {k: re.compile(v) for k, v in PARTS.items() if v}
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip()
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        try:
            n = int(count)
        except ValueError:
            continue
        frames = stack.split(";")[1:]   # the first is the process
        total += n
        own[frames[-1] if frames else "?"] += n
        hit = set()
        for frame in frames:
            for name, pattern in patterns.items():
                if name not in hit and pattern.search(frame):
                    hit.add(name)
        if "whole request (Flask.wsgi_app)" not in hit:
            hit.add("waitress / gunicorn outside Flask")
        for name in hit:
            parts[name] += n
    out = [f"{total} samples (busy threads only)", "part of the request            "
           "                 share of samples"]
    for name in PARTS:
        out.append(f"  {name:<46} {100 * parts[name] / max(total, 1):5.1f} %")
    out.append(f"top {top} frames by own time")
    for frame, n in own.most_common(top):
        out.append(f"  {100 * n / max(total, 1):5.1f} %  {frame[:110]}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    print(summarise(args.path, args.top))


if __name__ == "__main__":
    main()
