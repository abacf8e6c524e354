"""DAG-parse cost: what importing the provider's operators, sensors and hook adds to a DAG file's import
time on top of Airflow's own, in fresh processes (median of many), and which heavy modules it loads.

Two Airflow baselines: the bare package (``airflow.sdk`` on 3.x, ``airflow`` on 2.x) and what a
minimal DAG file imports anyway (``from airflow.sdk import DAG`` / ``from airflow import DAG``).
Bytecode is cached (in a throw-away ``PYTHONPYCACHEPREFIX``, after warm-up runs) as it is for a
package installed from a wheel; the figure without any bytecode cache (every module compiled at
import, as with ``PYTHONDONTWRITEBYTECODE=1`` on an editable install) is shown too.

Run: ``python bench/dag_parse.py [--runs 30] [--python PATH ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import airflow_env, fmt, median, percentile, progress, table

PROVIDER_MODULES = (
    "airflow_provider_cdm.operators.cdm",
    "airflow_provider_cdm.sensors.cdm",
    "airflow_provider_cdm.hooks.cdm",
)
HEAVY = ("requests", "httpx", "tenacity", "airflow_provider_cdm.emulator")
TARGET_MS = 20.0
PACKAGE = Path(__file__).resolve().parents[1] / "airflow_provider_cdm"

# One sample: Airflow's baseline import, then the provider's modules; times and what each loaded.
PROBE = r"""
import importlib, json, sys, time
baseline = sys.argv[1]
t0 = time.perf_counter()
try:
    import airflow.sdk as _sdk
    line = 3
    if baseline == "dag":
        from airflow.sdk import DAG
except ImportError:
    import airflow
    line = 2
    if baseline == "dag":
        from airflow import DAG
t1 = time.perf_counter()
before = set(sys.modules)
missing = []
for name in sys.argv[2:]:
    try:
        importlib.import_module(name)
    except ImportError as err:
        missing.append(f"{name}: {err}")
t2 = time.perf_counter()
added = sorted(set(sys.modules) - before)
print(json.dumps({"airflow_s": t1 - t0, "provider_ms": (t2 - t1) * 1000, "added": added,
                  "preloaded": sorted(m for m in sys.modules if m in before), "missing": missing}))
"""


def sample(python: str, baseline: str, modules: list[str], env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [python, "-W", "ignore", "-c", PROBE, baseline, *modules],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def version_of(python: str) -> str:
    code = "from importlib.metadata import version; print(version('apache-airflow'))"
    return subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def measure(python: str, runs: int, cold_runs: int) -> tuple[list[list[str]], list[str]]:
    rows: list[list[str]] = []
    notes: list[str] = []
    modules = list(PROVIDER_MODULES)
    version = version_of(python)
    with tempfile.TemporaryDirectory(prefix="cdm-bench-pycache-") as pycache:
        warm_env = {**os.environ, **airflow_env(), "PYTHONPYCACHEPREFIX": pycache}
        warm_env.pop("PYTHONDONTWRITEBYTECODE", None)
        cold_env = {**os.environ, **airflow_env(), "PYTHONDONTWRITEBYTECODE": "1"}
        cold_env.pop("PYTHONPYCACHEPREFIX", None)  # Airflow's own bytecode as installed; the provider's as found
        cold_label = "provider's in tree" if any(PACKAGE.rglob("__pycache__")) else "none for the provider"
        first = sample(python, "dag", modules, warm_env)
        if first["missing"]:
            notes.append(f"Airflow {version}: not importable (measured without them): {first['missing']}")
            modules = [name for name in modules if not any(str(m).startswith(name) for m in first["missing"])]
        sample(python, "dag", modules, warm_env)  # warm-up: bytecode cached now
        for baseline, label in (("bare", "bare Airflow package"), ("dag", "a minimal DAG file's Airflow imports")):
            for env, cache, count in ((warm_env, "cached", runs), (cold_env, cold_label, cold_runs)):
                if count <= 0:
                    continue
                progress(f"DAG-parse cost on Airflow {version}: {count} fresh processes ({baseline}, bytecode {cache})")
                samples = [sample(python, baseline, modules, env) for _ in range(count)]
                added = {name for s in samples for name in s["added"]}
                preloaded = {name for s in samples for name in s["preloaded"]}
                heavy_added = [name for name in HEAVY if any(m == name or m.startswith(name + ".") for m in added)]
                heavy_pre = [name for name in HEAVY if name in preloaded]
                provider = [float(s["provider_ms"]) for s in samples]
                airflow_ms = [float(s["airflow_s"]) * 1000 for s in samples]
                verdict = "yes" if cache == "cached" and baseline == "dag" and median(provider) < TARGET_MS else ""
                rows.append(
                    [
                        version,
                        label,
                        cache,
                        str(count),
                        fmt(median(airflow_ms), 0),
                        f"**{fmt(median(provider))}**" if verdict else fmt(median(provider)),
                        fmt(percentile(provider, 0.9)),
                        ", ".join(heavy_added) or "none",
                        ", ".join(heavy_pre) or "none",
                    ]
                )
                if heavy_added:
                    notes.append(f"Airflow {version}: importing the provider loaded {heavy_added}")
    return rows, notes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="fresh processes per figure (bytecode cached)")
    parser.add_argument("--cold-runs", type=int, default=10, help="fresh processes without bytecode cache")
    parser.add_argument("--python", nargs="+", default=[sys.executable], help="interpreters (one per Airflow line)")
    args = parser.parse_args(argv)
    rows: list[list[str]] = []
    notes: list[str] = []
    for python in args.python:
        more_rows, more_notes = measure(python, args.runs, args.cold_runs)
        rows += more_rows
        notes += more_notes
    header = [
        "Airflow",
        "on top of",
        "bytecode",
        "processes",
        "Airflow import, ms (median)",
        "provider adds, ms (median)",
        "provider adds, ms (p90)",
        "heavy modules the provider loads",
        "already loaded by Airflow",
    ]
    print(f"### DAG-parse cost: importing {', '.join(PROVIDER_MODULES)}\n")
    print(table(header, rows))
    print(f"\nTarget: under {TARGET_MS:g} ms on top of a DAG file's own Airflow imports, bytecode cached (bold).")
    for note in notes:
        print(f"\n**{note}**")
    print(flush=True)
    if any("loaded" in note for note in notes):
        sys.exit(1)


if __name__ == "__main__":
    main()
