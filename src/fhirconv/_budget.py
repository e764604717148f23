"""A per-document time budget, checked between sentences and between stages.

Python cannot stop a function from outside without a process per document, so the budget is
cooperative: the stages call ``check`` at points that are never far apart (every sentence of
extraction, every patient of settling, every stage of the pipeline). A document over its budget
raises ``BudgetError``; the run reports it and goes on with the next input.
"""

from __future__ import annotations

import time

from .errors import BudgetError

#: seconds per document: a 2 MB text (the default size limit) converts in a few seconds here, so
#: a document still running after a minute is a pathological input, not a large one.
TIME_BUDGET = 60.0


class Budget:
    __slots__ = ("_end", "name", "seconds")

    def __init__(self, seconds: float | None, name: str = "<text>") -> None:
        self.seconds = seconds
        self.name = name
        self._end = time.monotonic() + seconds if seconds else None

    def check(self, where: str) -> None:
        """Raise BudgetError when the budget is spent."""
        if self._end is not None and time.monotonic() > self._end:
            raise BudgetError(f"{self.name}: took longer than its time budget of {self.seconds:g} s "
                              f"(stopped during {where}); split the document, or raise the budget with "
                              "--time-budget (0: none)")


#: no budget: what the stages use when the caller gives none
UNLIMITED = Budget(None)
