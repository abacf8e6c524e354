"""What an exception shows anyone who reads it, for the tests that look for leaked secrets."""

from __future__ import annotations

import traceback


def error_text(err: BaseException) -> str:
    """str, repr and the formatted traceback of an error and of every chained cause or context."""
    texts = ["".join(traceback.format_exception(err))]
    pending: list[BaseException | None] = [err]
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        texts += [str(item), repr(item)]
        pending += [item.__cause__, item.__context__]
    return "\n".join(texts)
