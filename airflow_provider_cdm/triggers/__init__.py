"""Airflow triggers of the CDM provider (deferrable waits in the triggerer).

The triggerer imports a trigger's module and builds the trigger on its event loop, so the trigger modules
import nothing of the provider at module level but this package, which Python imports with each of them
anyway: the two helpers they share live here, on the standard library alone, and cost the loop no module.
"""

from __future__ import annotations

import asyncio
import importlib
import weakref
from types import ModuleType


def on_an_event_loop() -> bool:
    """Whether this thread runs an asyncio loop now (the triggerer builds its triggers on its loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class OffLoopImports:
    """The modules a trigger's wait needs, imported in a worker thread, once per process.

    Triggers that start together (a triggerer adopting dozens) await the same import, and later ones hop
    to no thread at all (each hop costs the loop a thread wake-up and the GIL back: up to 80 ms on a
    loaded machine, measured). A failed import is tried again by the next trigger.
    """

    def __init__(self, *names: str) -> None:
        self.names = names
        self.done = False  # every module was imported whole
        self._importing: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Future[None]] = (
            weakref.WeakKeyDictionary()
        )

    async def ensure(self) -> None:
        if self.done:
            return
        loop = asyncio.get_running_loop()
        importing = self._importing.get(loop)
        if importing is None or (importing.done() and (importing.cancelled() or importing.exception() is not None)):
            importing = self._importing[loop] = asyncio.ensure_future(self._import_each())  # failed: try again
        await asyncio.shield(importing)  # a trigger cancelled meanwhile leaves the import to the others

    async def _import_each(self) -> None:
        for name in self.names:
            await self.import_one(name)
        self.done = True

    @staticmethod
    async def import_one(name: str) -> ModuleType:
        """The module ``name``, imported in a worker thread. Every caller goes through ``import_module``,
        never straight to ``sys.modules``, which holds a module while another trigger's thread is still
        executing it."""
        return await asyncio.to_thread(importlib.import_module, name)
