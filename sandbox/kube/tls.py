"""TLS (a throwaway CA), the kubeconfig a client reads, the running server, and the scenes tests and
the demo start from."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from sandbox.kube.api import ADMIN_TOKEN
from sandbox.kube.controllers import FakeCluster
from sandbox.kube.server import KubeServer

# --- TLS and kubeconfig ------------------------------------------------------------------------------


@dataclass
class Pki:
    ca_pem: bytes
    context: ssl.SSLContext


def make_pki(directory: Path) -> Pki:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warroom-test-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    (directory / "ca.crt").write_bytes(ca_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.crt", directory / "server.key")
    return Pki(ca_pem, context)


@dataclass
class RunningCluster:
    cluster: FakeCluster
    url: str
    kubeconfig: Path
    directory: Path
    ca_pem: bytes

    def write_kubeconfig(
        self,
        path: Path,
        token: str = ADMIN_TOKEN,
        *,
        context: str = "test",
        extra: dict[str, str] | None = None,
    ) -> Path:
        """A kubeconfig with context ``context`` (and more contexts: name -> token)."""
        contexts = {context: token, **(extra or {})}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": context,
            "clusters": [
                {
                    "name": "warroom-test",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self.ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": f"user-{name}", "user": {"token": tok}} for name, tok in contexts.items()],
            "contexts": [
                {
                    "name": name,
                    "context": {"cluster": "warroom-test", "user": f"user-{name}", "namespace": "prod"},
                }
                for name in contexts
            ],
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def kubectl_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.directory / "kubectl-cache"),
            "HOME": str(self.directory),
        }

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this server (namespace prod unless -n says otherwise)."""
        done = subprocess.run(
            ["kubectl", *args], env=self.kubectl_env(), capture_output=True, text=True, timeout=60
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done


@contextmanager
def running_cluster(
    cluster: FakeCluster | None = None, directory: Path | None = None
) -> Iterator[RunningCluster]:
    cluster = cluster or FakeCluster()
    with tempfile.TemporaryDirectory(prefix="warroom-kube-") as tmp:
        base = directory or Path(tmp)
        pki = make_pki(base / "pki")
        server = KubeServer(cluster, pki.context)
        thread = threading.Thread(target=server.serve_forever, daemon=True, name="kube-api")
        thread.start()
        url = f"https://127.0.0.1:{server.server_address[1]}"
        running = RunningCluster(cluster, url, base / "kubeconfig", base, pki.ca_pem)
        running.write_kubeconfig(running.kubeconfig)
        try:
            yield running
        finally:
            server.shutdown()
            server.server_close()


def rollout_scene(
    cluster: FakeCluster,
    name: str = "web",
    *,
    state: str = "healthy",
    replicas: int = 4,
    minutes_ago: float = 5,
    namespace: str = "prod",
    revisions: int = 2,
) -> None:
    """A Deployment that ran ``name:1`` for hours, then got ``revisions - 1`` more images, the last one
    ``minutes_ago`` (whose pods behave as ``state``)."""
    cluster.add_namespace(namespace)
    cluster.now -= dt.timedelta(hours=revisions - 1, minutes=minutes_ago)
    if revisions == 1:
        cluster.behaviour[f"{name}:1"] = state
    cluster.create_deployment(
        name,
        f"{name}:1",
        namespace=namespace,
        replicas=replicas,
        annotations={"kubernetes.io/change-cause": "release 1"},
    )
    for n in range(2, revisions + 1):
        cluster.advance(3600)
        if n == revisions:
            cluster.behaviour[f"{name}:{n}"] = state
        cluster.set_image(name, f"{name}:{n}", namespace=namespace, change_cause=f"release {n}")
    cluster.advance(minutes_ago * 60)
