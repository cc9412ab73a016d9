"""A RabbitMQ node of a test's own, on its own ports and data directory, that the test may stop and restart.

The shared broker on 5672 is never touched: fault tests that restart a broker use this.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

__all__ = ["PrivateRabbitMQ"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRabbitMQ:
    """``start()``, ``stop()``, ``start()`` again: the data survives, as after a real broker restart."""

    def __init__(self, root: Path) -> None:
        if shutil.which("rabbitmq-server") is None or shutil.which("rabbitmqctl") is None:
            raise RuntimeError("rabbitmq-server is not installed")
        self.root = root
        self.port = _free_port()
        self.node = f"bbfaults{uuid.uuid4().hex[:8]}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self._process: subprocess.Popen[bytes] | None = None
        for folder in ("mnesia", "log"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        (root / "enabled_plugins").write_text("[].\n", encoding="utf-8")
        (root / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n", encoding="utf-8"
        )
        # Debian's wrapper runs the node as the rabbitmq user: it must own the node's files.
        subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(root)], check=False, capture_output=True)

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
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"private broker exited: see {self.root / 'out.txt'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"private broker did not start within {timeout} s")

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
