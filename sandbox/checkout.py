"""The demo's service on loopback: ``/healthz`` answers 500 while the sandbox Deployment runs an image that
crash-loops, 200 once it runs a healthy one; ``/metrics`` gives its error rate as Prometheus text."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sandbox.kube import FakeCluster


def error_rate(cluster: FakeCluster, namespace: str, deployment: str) -> float:
    with cluster.lock:
        d = cluster.get("deployments", namespace, deployment)
        image = d["spec"]["template"]["spec"]["containers"][0]["image"]
        return 0.0 if cluster.behaviour.get(image, "healthy") == "healthy" else 0.42


@contextmanager
def running_checkout(cluster: FakeCluster, namespace: str = "prod", deployment: str = "web") -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            rate = error_rate(cluster, namespace, deployment)
            if self.path.startswith("/metrics"):
                status, body = 200, f'http_requests_error_ratio{{service="{deployment}"}} {rate}\n'
            else:
                status, body = (200, "ok\n") if rate == 0 else (500, f"error ratio {rate:.0%}\n")
            raw = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
