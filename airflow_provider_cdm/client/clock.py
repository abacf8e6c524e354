"""How far apart this machine's clock and CDM's may be: the one place for the tolerances used when a
run is recognised by its ``creation-date`` (stamped by CDM, on CDM's clock).

* Two CDM dates (e.g. a run's ``creation-date`` against our run's ``creation-date``) are compared
  exactly: no tolerance.
* :data:`SERVER_CLOCK_MARGIN`: a CDM date against an instant *estimated on CDM's clock* from the
  answers' ``Date`` headers (reconciliation after a lost answer, :mod:`client.reconcile`). Date
  headers have whole seconds, and CDM stamps a run a moment after the request left.
* :data:`LOCAL_CLOCK_SKEW_MS`: a CDM date against an instant read from *this machine's clock* (when
  a task started a run whose answer carried no date, :class:`client.runs.RunRef`). Nothing ties the
  two clocks together, so the allowance is wide.
"""

from __future__ import annotations

from datetime import timedelta

SERVER_CLOCK_MARGIN = timedelta(seconds=2)
LOCAL_CLOCK_SKEW_MS = 5 * 60 * 1000
