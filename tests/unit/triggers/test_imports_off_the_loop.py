"""The trigger loads the shared poller's modules in a worker thread, and every concurrent first trigger gets
the module whole: ``sys.modules`` holds a module while another thread still executes it (found in a real
triggerer, where nine deferred tasks failed on a half-imported poller)."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from airflow_provider_cdm.triggers import OffLoopImports
from tests.unit.triggers.helpers import LoopTicks


@pytest.mark.asyncio
async def test_concurrent_first_imports_all_get_the_whole_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "slow_to_import.py").write_text(
        textwrap.dedent(
            """
            import threading, time
            importing_thread = threading.get_ident()
            time.sleep(0.3)
            def subscribe():
                return "ready"
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "slow_to_import", raising=False)
    async with LoopTicks() as loop:
        modules = await asyncio.gather(*(OffLoopImports.import_one("slow_to_import") for _ in range(5)))
    assert all(module.subscribe() == "ready" for module in modules)
    assert modules[0].importing_thread != threading.get_ident()  # not on the loop's thread
    assert loop.ticks >= 10  # the loop went on while the module loaded
    monkeypatch.delitem(sys.modules, "slow_to_import")
