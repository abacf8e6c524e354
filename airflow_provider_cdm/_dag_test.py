"""Run one DAG with ``dag.test()`` on Airflow 2.11 or 3.x and read its task states (the pytest plugin's helper).

Nothing here imports Airflow until a DAG is run; the Airflow environment (home, database, DAGs folder)
must be set up first (the plugin's ``cdm_airflow_env`` option does it).
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Any

DAGS_FOLDER_BUNDLE = "dags-folder"  # Airflow 3's default bundle: the DAGs folder


class DagTestResult(dict[str, str]):
    """Task states by task id (``task_id[map_index]`` for mapped tasks), with the run and its state."""

    def __init__(self, dag_run: Any, states: dict[str, str]) -> None:
        super().__init__(states)
        self.dag_run = dag_run
        self.state: str = _state_name(dag_run.state)


def _state_name(state: object) -> str:
    if state is None:
        return "none"
    return str(state.value) if isinstance(state, Enum) else str(state)


def _airflow_3() -> bool:
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

    return bool(AIRFLOW_V_3_0_PLUS)


def _dag_bag_class() -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.2+
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]
    return DagBag


def dags_folder() -> Path:
    """The DAGs folder Airflow was configured with."""
    from airflow import settings

    return Path(str(settings.DAGS_FOLDER)).resolve()


def load_dag(dag_id: str, folder: Path | None = None) -> Any:
    """Parse the DAGs folder (Airflow's, unless ``folder``) and return the DAG ``dag_id``."""
    folder = folder or dags_folder()
    kwargs: dict[str, Any] = {} if _airflow_3() else {"include_examples": False}
    bag = _dag_bag_class()(dag_folder=str(folder), **kwargs)
    dag = bag.dags.get(dag_id)
    if dag is None:
        where = str(folder) if folder.is_dir() else f"{folder} (no such folder)"
        errors = "".join(f"\n  {path}: {error.strip()}" for path, error in bag.import_errors.items())
        raise LookupError(
            f"no DAG {dag_id!r} in the DAGs folder {where}; found {sorted(bag.dags)}"
            + (f"; import errors:{errors}" if errors else "")
        )
    return dag


def _in_folder(fileloc: str | None, folder: Path) -> bool:
    if not fileloc:
        return False
    return folder in Path(fileloc).resolve().parents


def serialize_outside_dags_folder(dag: Any) -> None:
    """Airflow 3 runs only serialized DAGs, and ``dag.test()`` serializes the DAGs folder alone ("the dag is
    not serialized" otherwise): write a DAG defined elsewhere (e.g. in a test module) to the database."""
    if not _airflow_3() or _in_folder(getattr(dag, "fileloc", None), dags_folder()):
        return
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.utils.session import create_session

    try:
        from airflow.dag_processing.dagbag import sync_bag_to_db  # Airflow 3.2+
    except ImportError:
        from airflow.models.dagbag import sync_bag_to_db  # type: ignore[attr-defined,no-redef,unused-ignore]

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)  # type: ignore[no-untyped-call,unused-ignore]
    bag = _dag_bag_class()(dag_folder=os.devnull, collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, DAGS_FOLDER_BUNDLE, None)


def task_states(dag_run: Any) -> dict[str, str]:
    """``{task_id or task_id[map_index]: state}`` of every task instance of the run."""
    states: dict[str, str] = {}
    for ti in dag_run.get_task_instances():
        key = ti.task_id if ti.map_index is None or ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        states[key] = _state_name(ti.state)
    return dict(sorted(states.items()))


def run_dag(dag: Any, **test_kwargs: Any) -> DagTestResult:
    """``dag.test(**test_kwargs)`` for a DAG or the id of one in the DAGs folder; returns the task states."""
    dag = load_dag(dag) if isinstance(dag, str) else dag
    serialize_outside_dags_folder(dag)
    dag_run = dag.test(**test_kwargs)
    return DagTestResult(dag_run, task_states(dag_run))
