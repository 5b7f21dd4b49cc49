"""Log-bucketed histograms for percentiles: mergeable, bounded, 1% relative error.

A value ``x > 0`` goes to bucket ``i = ceil(log(x) / log(GAMMA))``, which covers
``(GAMMA**(i-1), GAMMA**i]``; the bucket's representative ``2 * GAMMA**i / (GAMMA + 1)``
is within ``RELATIVE_ERROR`` (1%) of every value in it (the DDSketch construction).
Negative values mirror this, and ``|x| < MIN_MAGNITUDE`` counts as 0. Bucket codes
sort in value order, so a quantile is a cumulative count over sorted
``(group, code)`` rows. Merging two histograms adds counts of equal codes, so a
window's histogram never depends on how its records were batched, and its size is
bounded by the spread of the values (about 116 buckets per factor of 10), not by
how many there are.

Example::

    codes = bucket_codes(np.array([1.0, 10.0, 100.0]))
    values = bucket_values(codes)  # each within 1% of its input
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ("GAMMA", "MIN_MAGNITUDE", "RELATIVE_ERROR", "bucket_codes", "bucket_values")

RELATIVE_ERROR: Final = 0.01
"""The most a returned percentile differs from the exact one, relative to the exact one."""
GAMMA: Final = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
MIN_MAGNITUDE: Final = 1e-9
"""Values closer to 0 than this are counted as 0 (an absolute error of at most 1e-9)."""
_MAX_MAGNITUDE: Final = 1e300
_LOG_GAMMA: Final = math.log(GAMMA)
# Codes of positive values start above this, so that every code keeps its sign and
# codes sort in value order: negatives < 0 (zero) < positives.
_OFFSET: Final = 1 << 20


def bucket_codes(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Return the bucket code of each value (NaN counts as 0; infinities clamp to 1e300)."""
    magnitude = np.clip(np.nan_to_num(np.abs(values), nan=0.0), MIN_MAGNITUDE, _MAX_MAGNITUDE)
    index = np.ceil(np.log(magnitude) / _LOG_GAMMA).astype(np.int64)
    codes = index + _OFFSET
    codes[magnitude <= MIN_MAGNITUDE] = 0
    result: npt.NDArray[np.int64] = np.where(values < 0, -codes, codes)
    return result


def bucket_values(codes: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Return each bucket's representative value."""
    index = np.abs(codes) - _OFFSET
    magnitude = 2.0 * np.exp(index * _LOG_GAMMA) / (GAMMA + 1.0)
    result: npt.NDArray[np.float64] = np.where(codes == 0, 0.0, np.sign(codes) * magnitude)
    return result
