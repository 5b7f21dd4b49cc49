"""The HTTP endpoint: ``/metrics`` for Prometheus, ``/health`` and ``/ready`` for probes.

It serves from one background thread (the standard library's HTTP server), so a
slow scraper never holds up the event loop; kernel state is read on the loop
through the collectors. ``/health`` answers while the process can; ``/ready``
answers 200 only while the kernel runs (between start-up and shutdown).

Example::

    server = AdminServer(registry, host="127.0.0.1", port=0, ready=lambda: True)
    server.start()
    print(server.url)       # http://127.0.0.1:PORT
    server.stop()
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from dataflare.observability.errors import AdminServerError

__all__ = ("AdminServer",)

log = logging.getLogger("dataflare.observability")


class AdminServer:
    """Serves a registry over HTTP until :meth:`stop`.

    Args:
        registry: What ``/metrics`` exposes.
        host: Address to bind.
        port: Port to bind; 0 picks a free one.
        ready: Whether ``/ready`` says 200.

    Raises:
        AdminServerError: The address cannot be bound.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        host: str,
        port: int,
        ready: Callable[[], bool],
    ) -> None:
        handler = _handler_class(registry, ready)
        try:
            self._httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise AdminServerError(host, port, exc.strerror or str(exc)) from exc
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (the real port when 0 was asked for)."""
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """``http://host:port``, without a path."""
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Serve in a background thread."""
        # A short poll interval only so that stop() returns quickly.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="dataflare-metrics",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._httpd.shutdown()
            thread.join(timeout=10)
        self._httpd.server_close()


def _handler_class(
    registry: CollectorRegistry, ready: Callable[[], bool]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif path == "/health":
                self._json(200, {"status": "ok"})
            elif path == "/ready":
                is_ready = ready()
                self._json(200 if is_ready else 503, {"ready": is_ready})
            else:
                self._json(404, {"error": f"no such endpoint {path}; try /metrics"})

        def _json(self, status: int, body: dict[str, Any]) -> None:
            self._send(status, "application/json", json.dumps(body).encode())

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # Access lines go to debug through logging, never raw to stderr.
            log.debug("metrics endpoint: " + format, *args)

    return Handler
