"""Liaison as a process of a test script: on SQLite in a temp dir, on free
loopback ports, with a known admin password, its log in the artefacts."""

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ADMIN = "admin@localhost"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(base, liaison, what):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if liaison.poll() is not None:
            sys.exit(f"{what}: liaison stopped at start (exit {liaison.returncode})")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"{what}: liaison not ready within 60 s")


@contextlib.contextmanager
def running(binary, password, log_path, what, settings=None):
    """Yields (process, base URL) once /readyz answers; stops it after."""
    with tempfile.TemporaryDirectory() as data:
        http, grpc = free_port(), free_port()
        environment = {
            **os.environ,
            "LIAISON__DATA_DIR": os.path.join(data, "data"),
            "LIAISON__HTTP_ADDR": f"127.0.0.1:{http}",
            "LIAISON__GRPC_ADDR": f"127.0.0.1:{grpc}",
            "LIAISON__SERVICES__GATEWAY__AUTH__ADMIN_PASSWORD": password,
            "LIAISON__SERVICES__GATEWAY__AUTH__SECURE_COOKIES": "false",
            "LIAISON__LOG__LEVEL": "warn",
            **(settings or {}),
        }
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with open(log_path, "w") as log:
            liaison = subprocess.Popen(
                [binary, "serve"], env=environment, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                base = f"http://127.0.0.1:{http}"
                wait_ready(base, liaison, what)
                yield liaison, base
            finally:
                liaison.terminate()
                liaison.wait(timeout=30)
