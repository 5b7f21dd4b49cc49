"""Fails at import, like an extension whose dependency is not installed."""

import dataflare_no_such_dependency  # noqa: F401
