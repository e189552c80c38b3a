"""Calibration quality of the live monitor on the demo: calibrate on one split, test on another.

Calibrates :class:`vrprobe.monitor.Monitor` on a demo run of the ``shapes`` validation split and
evaluates it on a run of the held-out test split (300 items each, the defaults of
``vrprobe run``): the monitor's risk AUROC vs the best single signal's (the one best on the
calibration run, and the best on the test run in hindsight), and selective risk at 90%
coverage on the visual-reference questions with and without the vision veto (confidence = -H
as in SPEC §2, and = -risk). Missing runs are made with ``vrprobe run`` (≈40 s each on an idle
2-core machine). The last stdout line is one JSON object.

    python bench/monitor_calibration.py [--val runs/monitor-val] [--test runs/monitor-test]
    python bench/monitor_calibration.py --write-default   # also refresh the shipped calibration
    python bench/monitor_calibration.py --samples 5 --val runs/mon-val5 --test runs/mon-test5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def ensure_run(folder: Path, split: str, samples: int) -> Path:
    """Make the demo run ``folder`` of ``split`` with ``vrprobe run`` unless it exists."""
    if not (folder / "manifest.json").is_file():
        cli = [sys.executable, "-m", "vrprobe.cli", "run", "--split", split]
        opts = ["--out", str(folder), "--samples", str(samples), "--no-report", "--no-progress"]
        subprocess.run([*cli, *opts], check=True)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--val", type=Path, default=Path("runs/monitor-val"))
    ap.add_argument("--test", type=Path, default=Path("runs/monitor-test"))
    ap.add_argument("--top-k", type=int, default=3)
    ap.add_argument("--samples", type=int, default=0, help="K for runs made here (--samples K)")
    ap.add_argument("--write-default", action="store_true", help="save to assets/demo_monitor")
    args = ap.parse_args()

    from vrprobe.cli_check import DEFAULT_DEMO_CALIBRATION
    from vrprobe.monitor.calibration import fit_calibration
    from vrprobe.monitor.evaluate import evaluate
    from vrprobe.monitor.files import save_calibration

    val = ensure_run(args.val, "validation", args.samples)
    test = ensure_run(args.test, "test", args.samples)
    manifest = json.loads((val / "manifest.json").read_text())
    cal = fit_calibration(val, manifest, top_k=args.top_k)
    if args.write_default:
        cal.run["path"] = "vrprobe run --split validation (bench/monitor_calibration.py)"
        save_calibration(cal, DEFAULT_DEMO_CALIBRATION)
        print(f"wrote {DEFAULT_DEMO_CALIBRATION}")
    k = cal.risk[-1].samples  # the run's K when it was made with --samples K
    res = evaluate(cal, test, samples=k)
    print(f"calibrated on {val} ({cal.run['n']} items), evaluated on {test} ({res['n']} items)")
    print(f"risk model (K={k}): {' + '.join(res['risk_features'])}; probe {cal.probe}")
    print(
        f"monitor risk AUROC {res['monitor_risk_auroc']:.3f}; best single signal "
        f"{res['best_signal_on_calibration']} {res['best_signal_on_calibration_auroc']:.3f} "
        f"(best in hindsight {res['best_signal_in_hindsight']} "
        f"{res['best_signal_in_hindsight_auroc']:.3f})"
    )
    lo, hi = res["delta_auroc_vs_best_ci95"] or (float("nan"), float("nan"))
    print(f"monitor - best signal: 95% bootstrap CI [{lo:+.3f}, {hi:+.3f}]")
    for conf, s in res["selective_visual"].items():
        print(
            f"visual items, confidence {conf}: selective risk @90% {s['risk_no_veto']:.3f} "
            f"without veto, {s['risk_veto']:.3f} with veto ({s['delta']:+.3f}, "
            f"{s['n_vetoed_in_accepted']} vetoed)"
        )
    print(json.dumps(res))


if __name__ == "__main__":
    main()
