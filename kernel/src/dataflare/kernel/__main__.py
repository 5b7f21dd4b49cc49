"""``python -m dataflare.kernel`` runs the ``dataflare`` command."""

from __future__ import annotations

from dataflare.kernel._cli import run

run()
