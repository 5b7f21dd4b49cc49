"""Which fixed windows each record falls into: tumbling and sliding, as whole arrays.

Windows of length ``size`` start every ``slide`` milliseconds from the Unix epoch
(``slide == size`` is a tumbling window). A record at ``t`` is in every window
``[k * slide, k * slide + size)`` that contains ``t``: ``k`` runs from
``floor((t - size) / slide) + 1`` to ``floor(t / slide)``.

Example::

    records, starts = assign_windows(np.array([5, 12]), size=10, slide=5)
    # records [0, 0, 1, 1], starts [0, 5, 5, 10]
"""

from __future__ import annotations

import numpy as np

from dataflare.streaming._accumulators import Ints

__all__ = ("assign_windows",)


def assign_windows(times: Ints, *, size: int, slide: int) -> tuple[Ints, Ints]:
    """Pair every record with each window it falls into.

    Args:
        times: Event times, milliseconds.
        size: The window length.
        slide: The distance between window starts (at most ``size``).

    Returns:
        ``(record, start)``: the record's position and the window's start, one pair per
        record and window, grouped by record.
    """
    if slide == size:
        # numpy's % with a positive divisor is never negative: this floors.
        return np.arange(times.size, dtype=np.int64), times - times % size
    last = times // slide
    first = (times - size) // slide + 1
    per_record = last - first + 1
    records = np.repeat(np.arange(times.size, dtype=np.int64), per_record)
    step = np.arange(records.size, dtype=np.int64) - np.repeat(
        np.cumsum(per_record) - per_record, per_record
    )
    return records, (first[records] + step) * slide
