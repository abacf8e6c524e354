"""Build the wheel and sdist, install the wheel into a fresh virtual environment and import every module.

Checks what a user gets from PyPI rather than from the source tree: the wheel carries every module,
``py.typed`` and the provider entry point; the sdist carries the docs, tests and example DAGs; and
every module imports in an environment holding only the wheel and its declared dependencies.

Run: ``python scripts/check_dist.py [--airflow VERSION]`` (needs the ``build`` package; pip's cache makes
it quick). The fresh environment gets that Airflow version (``make dist-check`` passes the project's) and
a temporary ``AIRFLOW_HOME``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_cdm"
SDIST_MUST_HOLD = ("README.md", "CHANGELOG.md", "docs/architecture.md", "example_dags", "tests/conftest.py")
# Modules that need an optional extra, by the module their ImportError must name.
OPTIONAL = {f"{PACKAGE}.lineage.facets": "airflow.providers.openlineage"}
IMPORT_ALL = f"""
import importlib, pkgutil, {PACKAGE}
from {PACKAGE}.get_provider_info import get_provider_info
optional = {OPTIONAL!r}
names = [m.name for m in pkgutil.walk_packages({PACKAGE}.__path__, "{PACKAGE}.")]
skipped = []
for name in names:
    try:
        importlib.import_module(name)
    except ImportError as err:
        if name not in optional or not str(err.name).startswith(optional[name]):
            raise
        skipped.append(name)
info = get_provider_info()
assert info["versions"] == [{PACKAGE}.__version__], info["versions"]
print(f"imported {{len(names) + 1 - len(skipped)}} modules of {PACKAGE} {{{PACKAGE}.__version__}}; "
      f"without their optional extras: {{skipped}}")
"""


def run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, command))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def check_wheel(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
        points = archive.read(entry_points).decode() if entry_points else ""
    sources = {str(p.relative_to(ROOT)) for p in (ROOT / PACKAGE).rglob("*.py")}
    missing = sorted(sources - names)
    problems = [f"missing modules {missing}"] if missing else []
    if f"{PACKAGE}/py.typed" not in names:
        problems.append("no py.typed")
    if "apache_airflow_provider" not in points:
        problems.append("no apache_airflow_provider entry point")
    if any(name.startswith(("tests/", "bench/")) for name in names):
        problems.append("tests or benchmarks inside the wheel")
    if problems:
        sys.exit(f"{wheel.name}: " + "; ".join(problems))


def check_sdist(sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    missing = [item for item in SDIST_MUST_HOLD if not any(n == item or n.startswith(item + "/") for n in names)]
    if missing:
        sys.exit(f"{sdist.name} lacks {missing}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--airflow", help="the apache-airflow version to install beside the wheel (default: newest)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cdm-dist-") as tmp:
        out = Path(tmp) / "dist"
        run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", out, ROOT)
        (wheel,) = out.glob("*.whl")
        (sdist,) = out.glob("*.tar.gz")
        check_wheel(wheel)
        check_sdist(sdist)
        env_dir = Path(tmp) / "venv"
        venv.create(env_dir, with_pip=True)
        python = env_dir / "bin" / "python"
        airflow = [f"apache-airflow=={args.airflow}"] if args.airflow else []
        run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel, *airflow)
        env = {**os.environ, "AIRFLOW_HOME": str(Path(tmp) / "airflow-home")}
        imported = run(python, "-c", IMPORT_ALL, cwd=Path(tmp), env=env).strip()
        print(f"{wheel.name} and {sdist.name} built; {imported} (apache-airflow {args.airflow or 'newest'})")


if __name__ == "__main__":
    main()
