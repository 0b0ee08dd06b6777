"""Fault drills on real parts: a throwaway ``redis-server`` each drill starts on a free port
(so stopping or freezing it harms no other suite), real Celery worker and beat processes and
a real gunicorn pointed at it and at the suite's PostgreSQL test database, a TCP proxy the
test controls in front of PostgreSQL (to cut the database away), and localstripe.

Nothing that is faulted is mocked: the processes are killed (SIGKILL), frozen (SIGSTOP) or
cut off for real. Long variants are marked ``long`` and run by ``make test-long``.
"""

from __future__ import annotations

import http.client
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# --- Redis -------------------------------------------------------------------------------------
class RedisServer:
    """A redis-server of our own, persisted like a production broker should be (append-only
    file): a stop and start keeps queued and unacknowledged messages."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.frozen = False

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (Debian's redis-server package)")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.ping, 10, "redis-server to start")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args: str) -> bytes:
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, timeout=5, check=True
        ).stdout
        return out.strip()

    def stop(self) -> None:
        if self.process is not None:
            if self.frozen:
                self.thaw()
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def freeze(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)
        self.frozen = False


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with tempfile.TemporaryDirectory(prefix="fenxiao-redis-") as folder:
        server = RedisServer(Path(folder))
        server.start()
        try:
            yield server
        finally:
            server.stop()


# --- processes of the app ------------------------------------------------------------------------
def database_url(port: int | None = None) -> str:
    """The suite's test database (committed data, ``live_db``), optionally through a proxy."""
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    host = "127.0.0.1" if port else (s["HOST"] or "127.0.0.1")
    return f"postgres://{auth}@{host}:{port or s['PORT'] or 5432}/{s['NAME']}"


def service_env(redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))}
    env.update(
        DJANGO_SETTINGS_MODULE="platform_core.settings",
        DATABASE_URL=database_url(),
        REDIS_URL=redis_url,
        CELERY_TASK_ALWAYS_EAGER="false",
        DJANGO_SECRET_KEY="faults-drill-" + "k" * 40,
        DJANGO_DEBUG="false",
        SCHEMA_POOL_SIZE="0",
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        OUTBOX_RELAY_SECONDS="2",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Service:
    """A child process (worker, beat, gunicorn) with its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready: str | None = None, timeout: float = 40) -> Service:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            self.argv, env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        if ready:
            wait_until(lambda: self.alive() and ready in self.log(), timeout, f"{self.name}: {ready!r}")
        return self

    def alive(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited:\n{self.log()[-3000:]}")
        return True

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def children(self) -> list[int]:
        assert self.process is not None
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True
        ).stdout
        return [int(p) for p in out.split()]

    def kill(self) -> None:
        """SIGKILL the whole process group (the worker and its pool)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGQUIT)  # quick shutdown (gunicorn, Celery's cold one)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


class Services:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Service] = []

    def worker(self, env: dict[str, str], name: str = "worker", concurrency: int = 1) -> Service:
        argv = [
            str(BIN / "celery"),
            "-A",
            "platform_core",
            "worker",
            "-l",
            "info",
            "-c",
            str(concurrency),
            "-n",
            f"{name}@faults",
            "--without-gossip",
            "--without-mingle",
        ]
        service = Service(name, argv, env, self.log_dir)
        self.started.append(service)
        return service.start(ready="ready.")

    def beat(self, env: dict[str, str]) -> Service:
        argv = [
            str(BIN / "celery"),
            "-A",
            "platform_core",
            "beat",
            "-l",
            "info",
            "-s",
            str(self.log_dir / "beat-schedule"),
            "--pidfile=",
        ]
        service = Service("beat", argv, env, self.log_dir)
        self.started.append(service)
        return service.start(ready="beat: Starting")

    def web(self, env: dict[str, str], workers: int = 2) -> tuple[Service, int]:
        port = free_port()
        argv = [
            str(BIN / "gunicorn"),
            "platform_core.wsgi:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "--timeout",
            "30",
        ]
        service = Service("web", argv, env, self.log_dir)
        self.started.append(service)
        service.start()
        wait_until(lambda: service.alive() and http_get(port, "/healthz", "localhost")[0] == 200, 40, "gunicorn")
        return service, port

    def stop_all(self) -> None:
        for service in reversed(self.started):
            service.stop()


@pytest.fixture
def services(request: Any) -> Iterator[Services]:
    with tempfile.TemporaryDirectory(prefix="fenxiao-faults-") as folder:
        found = Services(Path(folder))
        try:
            yield found
        finally:
            found.stop_all()
            call = getattr(request.node, "rep_call", None)
            if call is not None and call.failed:
                for service in found.started:
                    print(f"--- {service.name} log (tail) ---\n{service.log()[-4000:]}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report


# --- HTTP -----------------------------------------------------------------------------------------
def http_request(
    port: int,
    method: str,
    path: str,
    host: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def http_get(port: int, path: str, host: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    try:
        return http_request(port, "GET", path, host, **kwargs)
    except OSError:
        return 0, {}, b""


# --- a TCP proxy the test controls ----------------------------------------------------------------
class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target. ``cut()`` closes every connection and refuses
    new ones (the listening socket is closed: connection refused, as when a server is down);
    ``restore()`` listens again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.lock = threading.Lock()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _addr = listener.accept()
            except OSError:
                return
            if self.listener is not listener:  # cut meanwhile
                client.close()
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                readable, _w, _x = select.select([a, b], [], [], 1.0)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        raise OSError("closed")
                    (b if sock is a else a).sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            for sock in (a, b):
                try:
                    sock.close()
                except OSError:
                    pass

    def cut(self) -> None:
        if self.listener is not None:
            try:
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close alone does not)
            except OSError:
                pass
            self.listener.close()
            self.listener = None
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for a, b in pairs:
            for sock in (a, b):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def close(self) -> None:
        self.cut()


# localstripe, its webhook sink and Stripe settings for shop payments (tests/payments)
from tests.billing.conftest import localstripe_url, stripe_on, webhook_sink  # noqa: E402, F401
from tests.payments.conftest import payments_on  # noqa: E402, F401


class StripeProxy:
    """In front of localstripe, as the worker's ``STRIPE_API_BASE``. It gives localstripe
    Stripe's documented idempotency (a POST repeated with the same ``Idempotency-Key`` gets
    the first answer, never a second object), which localstripe lacks, and can hold the
    answer to a refund creation (after localstripe made it) until released: the point where
    a worker dies mid-refund."""

    def __init__(self, target: str) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlparse

        self.target = urlparse(target)
        self.answers: dict[str, tuple[int, list[tuple[str, str]], bytes]] = {}
        self.forwarded: list[str] = []
        self.replayed: list[str] = []
        self.hold_refunds = threading.Event()
        self.refund_reached = threading.Event()
        self.release = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                key = self.headers.get("Idempotency-Key") if self.command == "POST" else None
                if key and key in proxy.answers:
                    proxy.replayed.append(f"{self.command} {self.path}")
                    status, headers, answer = proxy.answers[key]
                else:
                    conn = http.client.HTTPConnection(
                        proxy.target.hostname or "127.0.0.1", proxy.target.port, timeout=30
                    )
                    headers_out = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                    conn.request(self.command, self.path, body=body, headers=headers_out)
                    reply = conn.getresponse()
                    answer = reply.read()
                    status = reply.status
                    headers = [
                        (k, v) for k, v in reply.getheaders() if k.lower() not in ("transfer-encoding", "connection")
                    ]
                    conn.close()
                    proxy.forwarded.append(f"{self.command} {self.path}")
                    if key:
                        proxy.answers[key] = (status, headers, answer)
                    if self.command == "POST" and self.path.startswith("/v1/refunds") and proxy.hold_refunds.is_set():
                        proxy.refund_reached.set()
                        proxy.release.wait(30)
                try:
                    self.send_response(status)
                    for k, v in headers:
                        if k.lower() != "content-length":
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the caller died while we held its answer

            do_GET = do_POST = do_DELETE = _relay  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
