"""Render a vrprobe report in headless Chromium: save a screenshot and check that it loads.

    python scripts/screenshot_report.py RUN/report.html OUT.png

Two Chromium runs, each with a fresh profile: ``--dump-dom`` (with logging on stderr) to check
the page as the browser parsed it — every ``<img>`` has a non-empty PNG data URI, no ``src`` or
``href`` points to the network, the expected section ids are present, no JavaScript error was
logged — then ``--screenshot``. Exit status 0 when all checks pass, 1 otherwise (problems on
stderr), 2 when Chromium is missing.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
SECTIONS = ("provenance", "accuracy", "signals", "guards", "figures", "gallery", "unavailable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
JS_ERROR = re.compile(r"Uncaught|SyntaxError|ReferenceError|TypeError:.*console", re.I)


def chromium(args: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="vrprobe-chromium-") as profile:
        cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def check_dom(dom: str, sections=SECTIONS) -> list[str]:
    """Problems found in the DOM Chromium parsed (empty list = fine)."""
    problems = []
    if "</html>" not in dom:
        problems.append("the DOM dump is empty or truncated")
    imgs = re.findall(r"<img\b[^>]*>", dom)
    for tag in imgs:
        src = re.search(r'src="([^"]*)"', tag)
        if not src or not re.match(r"data:image/png;base64,[A-Za-z0-9+/]{100,}=*$", src.group(1)):
            problems.append(f"<img> without an embedded PNG: {tag[:80]}")
    for url in re.findall(r'(?:src|href)="((?:https?:)?//[^"]*)"', dom):
        problems.append(f"external reference: {url}")
    for sid in sections:
        if f'id="{sid}"' not in dom:
            problems.append(f"section id={sid!r} missing")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--window-size", default="1280,4000")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} not found (apt-get install chromium)", file=sys.stderr)
        return 2
    url = args.report.resolve().as_uri()
    dumped = chromium(["--enable-logging=stderr", "--v=0", "--dump-dom", url])
    problems = check_dom(dumped.stdout)
    problems += [
        f"browser log: {line}"
        for line in dumped.stderr.splitlines()
        if "CONSOLE" in line and JS_ERROR.search(line)
    ]
    shot = chromium(
        [
            f"--screenshot={args.out.resolve()}",
            f"--window-size={args.window_size}",
            "--hide-scrollbars",
            url,
        ]
    )
    if not args.out.exists() or args.out.stat().st_size < 1000:
        problems.append(f"no screenshot written (exit {shot.returncode}): {shot.stderr[-500:]}")
    n_img = len(re.findall(r"<img\b", dumped.stdout))
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    print(f"{args.report}: {n_img} images, {len(problems)} problems; screenshot {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
