"""The README's plugin snippet, verbatim, in a new project outside the repository, on the built wheel.

The files between ``<!-- pytest-plugin-file: PATH -->`` and ``<!-- /pytest-plugin-file -->`` in README.md
become that project's files, beside a ``dags/`` folder holding tests/plugin/project/dags. The wheel is
built, installed (``--no-deps --no-index``) into a fresh venv that sees this venv's packages (Airflow is
not downloaded again), and pytest runs there with a HOME and a TMPDIR of its own, checked empty after.
"""

from __future__ import annotations

import re
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.plugin.conftest import PROJECT_DAGS, ROOT, Sandbox, run_pytest, running_commands_mentioning

SNIPPET = re.compile(
    r"^<!-- pytest-plugin-file: (?P<path>\S+) -->\n```\w*\n(?P<body>.*?)^```\n<!-- /pytest-plugin-file -->$",
    re.MULTILINE | re.DOTALL,
)


def readme_files() -> dict[str, str]:
    """``{relative path: text}`` of the README's plugin snippet."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return {match["path"]: match["body"] for match in SNIPPET.finditer(text)}


def test_the_readme_holds_the_snippet() -> None:
    files = readme_files()
    assert set(files) == {"pyproject.toml", "tests/test_orders_daily.py", "tests/conftest.py"}
    assert "cdm_airflow_env = true" in files["pyproject.toml"]
    assert all(name in files["tests/test_orders_daily.py"] for name in ("cdm_emulator", "cdm_run_dag", "script_job"))
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Testing your own DAGs with the emulator")[1]
    assert 'pip install "airflow-provider-cdm[testing]"' in section.split("\n## ")[0]


def build_wheel(out: Path) -> Path:
    """The wheel as ``make dist-check`` builds it (``python -m build``), or with pip when build is missing."""
    try:
        import build  # noqa: F401
    except ImportError:
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(ROOT)]
    else:
        command = [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=170)
    (wheel,) = out.glob("airflow_provider_cdm-*.whl")
    return wheel


def venv_with_this_venvs_packages(path: Path) -> Path:
    """A fresh venv on top of this one's packages. ``--system-site-packages`` from inside a venv reaches the
    base interpreter's packages, not this venv's, so a ``.pth`` file appends this venv's site-packages (as
    plain paths: its own ``.pth`` files, this project's editable install among them, are not run)."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    parents = dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"]])
    (Path(purelib) / "_parent_venv.pth").write_text("".join(f"{entry}\n" for entry in parents))
    return python


@pytest.mark.plugin_slow
def test_the_readme_snippet_runs_in_a_new_project_on_the_wheel(tmp_path: Path, sandbox: Sandbox) -> None:
    wheel = build_wheel(tmp_path / "dist")
    python = venv_with_this_venvs_packages(tmp_path / "venv")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--ignore-installed", str(wheel)],
        check=True,
        timeout=120,
    )
    where = subprocess.run(
        [python, "-c", "import airflow_provider_cdm.pytest_plugin as p; print(p.__file__)"],
        cwd=tmp_path,  # not this checkout, which `python -c` would put first on sys.path
        env=sandbox.env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(tmp_path / "venv")), where  # the wheel's copy, not this checkout

    project = tmp_path / "user-project"  # outside the repository
    assert ROOT not in project.parents
    for relative, text in readme_files().items():
        (project / relative).parent.mkdir(parents=True, exist_ok=True)
        (project / relative).write_text(text)
    shutil.copytree(PROJECT_DAGS, project / "dags")

    done = run_pytest(project, sandbox, python=python)
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout[-6000:] + done.stderr[-3000:]
    assert sandbox.leftovers() == []  # no ~/airflow, no AIRFLOW_HOME left in TMPDIR
    assert running_commands_mentioning(str(tmp_path / "venv")) == []  # the emulator process is gone
