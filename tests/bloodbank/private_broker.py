"""A RabbitMQ node of a test's own, on its own ports and data directory, that the test may stop and restart.

The shared broker on 5672 is never touched: fault tests that restart a broker use this, and
the TLS tests, whose node also listens for ``amqps://`` with the certificates they give it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BrokerTLS", "PrivateRabbitMQ"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class BrokerTLS:
    """The node's TLS listener: its certificate and key, the CA clients are checked against, and whether a client
    must present a certificate (mutual TLS)."""

    cert_file: Path
    key_file: Path
    ca_file: Path
    require_client_certificate: bool = False

    def config(self, port: int) -> str:
        """The ``rabbitmq.conf`` lines of an ``amqps://`` listener on ``port``."""
        verify = "verify_peer" if self.require_client_certificate else "verify_none"
        return (
            f"listeners.ssl.default = 127.0.0.1:{port}\n"
            f"ssl_options.cacertfile = {self.ca_file}\n"
            f"ssl_options.certfile = {self.cert_file}\n"
            f"ssl_options.keyfile = {self.key_file}\n"
            f"ssl_options.verify = {verify}\n"
            f"ssl_options.fail_if_no_peer_cert = {str(self.require_client_certificate).lower()}\n"
        )


class PrivateRabbitMQ:
    """``start()``, ``stop()``, ``start()`` again: the data survives, as after a real broker restart.

    With ``tls``, the node also listens for ``amqps://`` on ``tls_port`` (``tls_url``); the
    certificate files are copied under ``root``, where the node's user can read them.
    """

    def __init__(self, root: Path, *, tls: BrokerTLS | None = None) -> None:
        if shutil.which("rabbitmq-server") is None or shutil.which("rabbitmqctl") is None:
            raise RuntimeError("rabbitmq-server is not installed")
        self.root = root
        self.port = _free_port()
        self.node = f"bbfaults{uuid.uuid4().hex[:8]}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.tls_port = _free_port() if tls is not None else None
        self.tls_url = f"amqps://guest:guest@127.0.0.1:{self.tls_port}/" if tls is not None else None
        self._process: subprocess.Popen[bytes] | None = None
        for folder in ("mnesia", "log"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        (root / "enabled_plugins").write_text("[].\n", encoding="utf-8")
        config = f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n"
        if tls is not None and self.tls_port is not None:
            config += self._copied(tls).config(self.tls_port)
        (root / "rabbitmq.conf").write_text(config, encoding="utf-8")
        # Debian's wrapper runs the node as the rabbitmq user: it must own the node's files.
        subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(root)], check=False, capture_output=True)

    def _copied(self, tls: BrokerTLS) -> BrokerTLS:
        folder = self.root / "tls"
        folder.mkdir(exist_ok=True)

        def copy(source: Path, name: str) -> Path:
            return Path(shutil.copyfile(source, folder / name))

        return BrokerTLS(
            cert_file=copy(tls.cert_file, "cert.pem"),
            key_file=copy(tls.key_file, "key.pem"),
            ca_file=copy(tls.ca_file, "ca.pem"),
            require_client_certificate=tls.require_client_certificate,
        )

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_DIST_PORT": str(_free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.root / "pid"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(self.root / "feature_flags"),
        }

    def start(self, *, timeout: float = 60.0) -> None:
        with (self.root / "out.txt").open("ab") as output:  # the child keeps its own copy of the handle
            self._process = subprocess.Popen(
                ["rabbitmq-server"],
                env=self._env(),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        for port in (self.port, self.tls_port):
            if port is not None:
                self._wait_for(self._process, port, deadline, timeout)

    def _wait_for(self, process: subprocess.Popen[bytes], port: int, deadline: float, timeout: float) -> None:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"private broker exited: see {self.root / 'out.txt'} and {self.root / 'log'}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"private broker did not listen on {port} within {timeout} s: see {self.root / 'log'}")

    def stop(self) -> None:
        subprocess.run(
            ["rabbitmqctl", "-q", "-n", self.node, "stop"],
            check=False,
            capture_output=True,
            timeout=60,
        )
        if self._process is not None:
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None
