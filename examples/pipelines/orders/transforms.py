"""Python operators for the orders pipeline: functions of whole record batches."""

from __future__ import annotations

from dataflare.kernel import RecordBatch


def valid_amounts(batch: RecordBatch) -> RecordBatch:
    """Keep orders with a positive amount (a refund or a typo is not revenue)."""
    return batch.filter(batch.column("amount") > 0)
