"""Load on ``llmsize serve``'s estimate endpoint over loopback: requests per second and latency.

Starts ``llmsize serve`` in its own process (warmed up first), then drives ``POST /api/infer``
from this process over keep-alive HTTP/1.1 connections (raw asyncio streams, so the client
costs little of the two cores it shares with the server), for a fixed number of requests or a
fixed time, whichever ends first. Two loads:

    same       the same question every time (the page reloading a permalink): answered from
               the server's cache of recent answers
    distinct   a new context per request, so every request runs the estimate
    floor      uvicorn serving a bare ASGI app that returns a fixed body: what the server and
               its HTTP parser cost before FastAPI and llmsize do anything

Goal (issue 16): ≥ 2,000 requests/s with p99 < 50 ms and zero errors. On a shared machine the
wall-clock rate says more about the neighbours than about the server, so the server's own CPU
time per request (from /proc, Linux) is printed too, and the rate one free core would give.

    python benchmarks/bench_serve.py [--requests 20000] [--seconds 20] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

GOAL_RPS, GOAL_P99_MS = 2000, 50.0
MODEL = "llama-3.1-8b"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BARE_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    message = {"more_body": True}
    while message.get("more_body"):
        message = await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})
"""


def start_server(port: int, bare_dir: str | None = None) -> subprocess.Popen[bytes]:
    """``llmsize serve`` on ``port`` (or uvicorn serving the bare app written in ``bare_dir``)."""
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = ["-m", "llmsize", "serve", "--port", str(port)]
    if bare_dir:
        cmd = ["-m", "uvicorn", "bare:app", "--app-dir", bare_dir, "--port", str(port),
               "--log-level", "warning"]
    proc = subprocess.Popen([sys.executable, *cmd], env=env, stderr=subprocess.DEVNULL)
    path = "/" if bare_dir else "/api/options"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("llmsize serve did not start in 30 s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request_bytes(body: dict[str, object]) -> bytes:
    data = json.dumps(body).encode()
    head = (f"POST /api/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n")
    return head.encode() + data


async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes) -> int:
    writer.write(payload)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    await reader.readexactly(length)
    return status


async def load(port: int, bodies: list[bytes], connections: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    queue = iter(bodies)
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for payload in queue:
            if time.perf_counter() > stop:
                break
            t0 = time.perf_counter()
            status = await one(reader, writer, payload)
            latencies.append(time.perf_counter() - t0)
            errors += status != 200
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    wall = time.perf_counter() - t0
    latencies.sort()
    return {"requests": len(latencies), "seconds": wall, "rps": len(latencies) / wall,
            "p50_ms": 1e3 * statistics.median(latencies),
            "p99_ms": 1e3 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "errors": errors}


def measure_floor(bodies: list[bytes], args: argparse.Namespace) -> dict[str, float]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, "bare.py"), "w") as f:
            f.write(BARE_APP)
        port = free_port()
        server = start_server(port, folder)
        try:
            asyncio.run(load(port, bodies[:500], args.connections, 30))
            cpu = cpu_seconds(server.pid)
            r = asyncio.run(load(port, bodies, args.connections, args.seconds))
            r["server_cpu_us"] = 1e6 * (cpu_seconds(server.pid) - cpu) / r["requests"]
        finally:
            server.terminate()
            server.wait(10)
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20000, help="at most this many per load")
    parser.add_argument("--seconds", type=float, default=20.0, help="at most this long per load")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    port = free_port()
    server = start_server(port)
    try:
        same = [request_bytes({"source": MODEL, "ctx_size": 8192})] * args.requests
        distinct = [request_bytes({"source": MODEL, "ctx_size": 1024 + i}) for i in range(args.requests)]
        asyncio.run(load(port, same[:500] + distinct[-500:], args.connections, 30))  # warm-up
        rows = []
        for name, bodies in (("same", same), ("distinct", distinct)):
            cpu = cpu_seconds(server.pid)
            r = asyncio.run(load(port, bodies, args.connections, args.seconds))
            r["server_cpu_us"] = 1e6 * (cpu_seconds(server.pid) - cpu) / r["requests"]
            rows.append((name, r))
    finally:
        server.terminate()
        server.wait(10)
    rows.append(("floor", measure_floor(same[: args.requests], args)))
    print(f"POST /api/infer ({MODEL}, hf) over loopback, {args.connections} keep-alive connections, "
          f"{os.cpu_count()} cores shared by server and client")
    print(f"load average {os.getloadavg()[0]:.1f} (other jobs on the machine)")
    print(f"{'load':<9} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
          f"{'server CPU/req':>15} {'one free core':>14}   goal")
    for name, r in rows:
        print(f"{name:<9} {r['requests']:>9,} {r['rps']:>8,.0f} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} "
              f"{r['errors']:>6} {r['server_cpu_us']:>12,.0f} µs {1e6 / r['server_cpu_us']:>10,.0f}/s"
              f"   ≥ {GOAL_RPS:,}/s, p99 < {GOAL_P99_MS:.0f} ms, 0 errors")


if __name__ == "__main__":
    main()
