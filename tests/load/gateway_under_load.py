"""The gateway under a bounded attack on loopback, watched from outside.

Starts Liaison ($LIAISON_BIN or --liaison) on SQLite in a temp dir with
`http.max_connections` lowered to --max-connections, then, while a
monitor samples the process's resident memory (/proc/PID/status) and open
descriptors (/proc/PID/fd) and a health checker opens a new connection to
`/healthz` every 200 ms from 127.0.0.1:

1. logins: --logins parallel `POST /api/session` for unknown accounts,
   then as many wrong passwords for the admin;
2. slow connections: from --addresses loopback addresses (127.0.0.2 ...),
   --per-address connections each (past the per-address cap, and together
   past the total cap), half of them sending a header line every 2 s and
   never finishing, the other half silent; every connection the server
   closes is opened again at once, for --seconds.

Fails (exit 1) when a health check is not answered 200 within 2 s, when
memory grows past --max-rss-growth-mib over the idle process, when open
descriptors pass the connection cap plus the sockets being closed and
the process's own, when a login
gets an answer other than 401/429/503, or when the attack connections
were not closed by the server. Prints the figures either way."""

import argparse
import errno
import json
import multiprocessing
import os
import resource
import selectors
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from liaison_process import ADMIN, running  # noqa: E402

PASSWORD = "load-test-password"
HEALTH_EVERY = 0.2
HEALTH_WITHIN = 2.0
TRICKLE_EVERY = 2.0
# Descriptors of the process besides client connections: databases, logs,
# the bus, gRPC, epoll (the server keeps 256 for them).
OWN_FILES = 256
# Sockets of connections closed to make room, not yet released (the
# server's allowance, `CLOSING` in its http/server.rs).
CLOSING = 64


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def open_files(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Monitor(threading.Thread):
    """Samples memory and descriptors every 50 ms; keeps the peaks per phase."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.phase = "idle"
        self.peaks = {}
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            try:
                rss, files = rss_mib(self.pid), open_files(self.pid)
            except OSError:
                return
            peak = self.peaks.setdefault(self.phase, [0.0, 0])
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], files)
            time.sleep(0.05)


class HealthChecker(threading.Thread):
    """A new connection to /healthz every 200 ms, from 127.0.0.1."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.answered = 0
        self.failures = []
        self.slowest = 0.0
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/healthz", timeout=HEALTH_WITHIN
                ) as answer:
                    answer.read()
                    ok = answer.status == 200
                    outcome = f"status {answer.status}"
            except (OSError, urllib.error.URLError) as error:
                ok, outcome = False, str(error)
            took = time.monotonic() - started
            if ok and took <= HEALTH_WITHIN:
                self.answered += 1
                self.slowest = max(self.slowest, took)
            else:
                self.failures.append(f"{outcome} after {took:.2f} s")
            time.sleep(max(0.0, HEALTH_EVERY - took))


def post_session(port, email, password, statuses, lock):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/session",
        method="POST",
        data=json.dumps({"email": email, "password": password}).encode(),
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            status = answer.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError as error:
        status = f"no answer: {error}"
    with lock:
        statuses[status] = statuses.get(status, 0) + 1


def parallel_logins(port, count, email_of, password):
    statuses, lock = {}, threading.Lock()
    barrier = threading.Barrier(count)

    def one(n):
        barrier.wait()
        post_session(port, email_of(n), password, statuses, lock)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(count)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses, time.monotonic() - started


class SlowClients:
    """Connections that never finish a request, reopened when closed."""

    def __init__(self, port, addresses, per_address):
        self.port = port
        self.selector = selectors.DefaultSelector()
        self.sources = [f"127.0.0.{2 + n}" for n in range(addresses)]
        self.per_address = per_address
        self.opened = 0
        self.closed_by_server = 0
        self.open = 0
        self.most_open = 0

    def connect(self, source, trickles):
        connection = socket.socket()
        connection.setblocking(False)
        try:
            connection.bind((source, 0))
            code = connection.connect_ex(("127.0.0.1", self.port))
        except OSError:
            connection.close()
            return
        if code not in (0, errno.EINPROGRESS):
            connection.close()
            return
        self.opened += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        state = {"source": source, "trickles": trickles, "sent": 0}
        self.selector.register(connection, selectors.EVENT_READ, state)

    def run(self, seconds):
        for source in self.sources:
            for n in range(self.per_address):
                self.connect(source, trickles=n % 2 == 0)
        deadline = time.monotonic() + seconds
        next_trickle = time.monotonic()
        while time.monotonic() < deadline:
            for key, _ in self.selector.select(timeout=0.1):
                try:
                    data = key.fileobj.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.closed_by_server += 1
                    self.close(key.fileobj)
                    self.connect(key.data["source"], key.data["trickles"])
            if time.monotonic() >= next_trickle:
                next_trickle += TRICKLE_EVERY
                for key in list(self.selector.get_map().values()):
                    if key.data["trickles"]:
                        self.trickle(key)
        for key in list(self.selector.get_map().values()):
            self.close(key.fileobj)

    def trickle(self, key):
        state = key.data
        line = (
            b"GET / HTTP/1.1\r\nHost: x\r\n"
            if state["sent"] == 0
            else f"X-Slow-{state['sent']}: a\r\n".encode()
        )
        try:
            key.fileobj.send(line)
            state["sent"] += 1
        except OSError:
            pass

    def close(self, connection):
        self.selector.unregister(connection)
        connection.close()
        self.open -= 1


def slow_clients(port, addresses, per_address, seconds, results):
    """Runs in a process of its own, so the watchers here are not slowed
    by its loop (one interpreter lock)."""
    slow = SlowClients(port, addresses, per_address)
    slow.run(seconds)
    results.send((slow.opened, slow.closed_by_server, slow.most_open))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--liaison", default=os.environ.get("LIAISON_BIN"))
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--addresses", type=int, default=8)
    parser.add_argument("--per-address", type=int, default=300)
    parser.add_argument("--max-connections", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=25)
    parser.add_argument("--max-rss-growth-mib", type=float, default=128)
    arguments = parser.parse_args()
    if not arguments.liaison:
        sys.exit("load: give --liaison or set LIAISON_BIN")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = arguments.addresses * arguments.per_address + 256
    if hard != resource.RLIM_INFINITY and hard < wanted:
        sys.exit(f"load: needs {wanted} open files, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))

    reports = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "artefacts", "load")
    os.makedirs(reports, exist_ok=True)
    log = os.path.join(reports, "liaison.log")
    settings = {"LIAISON__HTTP__MAX_CONNECTIONS": str(arguments.max_connections)}
    with running(arguments.liaison, PASSWORD, log, "load", settings) as (liaison, base):
        failures = attack(liaison, int(base.rsplit(":", 1)[1]), arguments)
    if failures:
        print("load: FAILED\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("load: every bound held")


def attack(liaison, port, arguments):
    time.sleep(0.5)
    idle_rss, idle_files = rss_mib(liaison.pid), open_files(liaison.pid)
    monitor, health = Monitor(liaison.pid), HealthChecker(port)
    monitor.start()
    health.start()
    failures = []

    monitor.phase = "logins"
    unknown, unknown_took = parallel_logins(
        port, arguments.logins, lambda n: f"nobody-{n}@example.org", "not-a-password"
    )
    wrong, wrong_took = parallel_logins(port, arguments.logins, lambda n: ADMIN, "wrong-password")
    for statuses in (unknown, wrong):
        odd = {status: n for status, n in statuses.items() if status not in (401, 429, 503)}
        if odd:
            failures.append(f"logins answered otherwise than 401/429/503: {odd}")

    monitor.phase = "slow connections"
    receiver, sender = multiprocessing.Pipe(duplex=False)
    attacker = multiprocessing.Process(
        target=slow_clients,
        args=(port, arguments.addresses, arguments.per_address, arguments.seconds, sender),
    )
    attacker.start()
    opened, closed_by_server, most_open = receiver.recv()
    attacker.join()
    monitor.phase = "after"
    time.sleep(1)
    health.stopped.set()
    monitor.stopped.set()
    health.join()
    monitor.join()
    if liaison.poll() is not None:
        failures.append(f"liaison stopped (exit {liaison.returncode})")

    rss_bound = idle_rss + arguments.max_rss_growth_mib
    files_bound = arguments.max_connections + CLOSING + OWN_FILES
    print(f"load: idle process {idle_rss:.0f} MiB resident, {idle_files} open files")
    print(f"load: {arguments.logins} logins of unknown accounts in {unknown_took:.1f} s: {unknown}")
    print(f"load: {arguments.logins} wrong admin passwords in {wrong_took:.1f} s: {wrong}")
    print(
        f"load: slow connections from {arguments.addresses} addresses x {arguments.per_address}"
        f" for {arguments.seconds:.0f} s: {opened} opened, {closed_by_server} closed"
        f" by the server, at most {most_open} open on the client side"
    )
    print(f"load: {'phase':<18} {'peak RSS MiB':>13} {'bound':>7} {'peak files':>11} {'bound':>7}")
    for phase, (rss, files) in monitor.peaks.items():
        print(f"load: {phase:<18} {rss:>13.0f} {rss_bound:>7.0f} {files:>11} {files_bound:>7}")
        if rss > rss_bound:
            failures.append(f"{phase}: {rss:.0f} MiB resident, bound {rss_bound:.0f}")
        if files > files_bound:
            failures.append(f"{phase}: {files} open files, bound {files_bound}")
    print(
        f"load: /healthz every {HEALTH_EVERY} s: {health.answered} answered 200"
        f" (slowest {health.slowest * 1000:.0f} ms), {len(health.failures)} not within"
        f" {HEALTH_WITHIN:.0f} s"
    )
    failures.extend(f"/healthz: {failure}" for failure in health.failures[:10])
    if closed_by_server == 0:
        failures.append("the server closed none of the slow connections")
    return failures


if __name__ == "__main__":
    main()
