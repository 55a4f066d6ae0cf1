"""``daub bench serve``: the web demo under load, as JSON.

Starts ``daub serve`` as a subprocess on a free port (its own ``TMPDIR``, so every file it leaves is
counted), warms it up (``--warmup`` renders from the most clients, so that its allocator and caches
reach their working size before RSS drift is measured), then for each client count N runs N concurrent ``gradio_client`` clients that together make
``--renders`` renders of an example map through ``/render`` (a new seed each time). Per client count:
errors, p50/p95 latency (the client's wall time: upload, queue, render, download), renders/s, CPU ms
per render of the server and of the clients (steady when other work shares the machine), the server's RSS (peak, first vs. last 10 % of the samples) and the files in its temp folders. Per server run:
a baseline (the same render called directly in the bench process before the server starts), whether a
render after the load is byte-identical to one before it, the files left once gradio's clean-up has
run, and the tracebacks in the server log. ``--threads 1,2`` compares torch thread counts in one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MAP = Path(__file__).resolve().parent / "examples" / "landscape" / "coast.png"
MB = 2**20


def counts(text: str, what: str) -> list[int]:
    """``"1,5,20"`` -> ``[1, 5, 20]`` (each >= 1)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{what} must be numbers separated by commas, got {text!r}") from None
    if not values or min(values) < 1:
        raise ValueError(f"{what} must be numbers >= 1, got {text!r}")
    return values


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clients", default="1,5,20", help="concurrent clients, one phase per count (default 1,5,20)")
    p.add_argument("--renders", type=int, default=500, help="renders per phase, split over its clients (default 500)")
    p.add_argument("--threads", default="1", help="torch threads in the server; 1,2 runs one server per count")
    p.add_argument("--model", default="landscape", help="live backend to render with (default landscape)")
    p.add_argument("--map", default=str(DEFAULT_MAP), help="label map PNG to send (default: the coast example)")
    p.add_argument(
        "--warmup", type=int, default=100, help="renders from the most clients before the phases (default 100)"
    )
    p.add_argument("--baseline-runs", type=int, default=20, help="direct renders for the baseline (0: none)")
    p.add_argument("--cache-age", type=int, default=20, help="the server's --cache-age in seconds (default 20)")
    p.add_argument("--settle", type=float, default=None, help="seconds to wait before counting files left "
                   "(default: 2 x cache age + 15)")  # fmt: skip
    p.add_argument("--interval", type=float, default=0.2, help="seconds between RSS samples (default 0.2)")
    p.add_argument("--out", default=None, help="also write the JSON to this file")


def run(args: argparse.Namespace) -> dict:
    clients, threads = counts(args.clients, "--clients"), counts(args.threads, "--threads")
    if args.renders < 1 or args.warmup < 0 or args.baseline_runs < 0 or args.cache_age < 1 or args.interval <= 0:
        raise ValueError("--renders, --cache-age must be >= 1, --warmup, --baseline-runs >= 0, --interval > 0")
    if not os.path.isfile(args.map):
        raise FileNotFoundError(f"--map: no file {args.map}")
    settle = 2 * args.cache_age + 15 if args.settle is None else max(0.0, args.settle)
    result: dict = {
        "unit": "latency: ms per /render as the client waits (upload, queue, render, download); rss: MB",
        "model": args.model,
        "map": Path(args.map).name,
        "renders_per_phase": args.renders,
        "cache_age_s": args.cache_age,
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cpus",
        "load_average_1min_start": round(os.getloadavg()[0], 2),
        "runs": [],
    }
    for t in threads:
        result["runs"].append(serve_run(args, t, clients, settle))
    result["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    return result


def baseline_ms(model: str, map_path: str, threads: int, runs: int) -> float | None:
    """Median ms of the same render called directly (no server), with ``threads`` torch threads."""
    if runs < 1:
        return None
    import torch

    import synth
    from synth.labels import open_image, to_labels

    gen = synth.load(model)
    ids = to_labels(open_image(map_path), gen.palette)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for s in range(2):
            gen(ids, seed=s)
        times = []
        for s in range(runs):
            t0 = time.perf_counter()
            gen(ids, seed=s)
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        torch.set_num_threads(before)
    return round(statistics.median(times), 1)


#: One TLS context for every bench client. gradio_client passes ``ssl_verify`` to each httpx call, and
#: httpx builds a new default context (loading the CA bundle, ~5 ms of CPU) for every upload and download
#: unless handed one: a client cost, not the server's, that the bench's clients would otherwise add to
#: the machine the server shares with them. Verification stays on.
_TLS = ssl.create_default_context()


def client(url: str, downloads: Path):
    """A quiet ``gradio_client.Client`` for ``url`` that saves into ``downloads`` and reuses :data:`_TLS`."""
    from gradio_client import Client

    return Client(url, verbose=False, analytics_enabled=False, download_files=str(downloads), ssl_verify=_TLS)


def serve_run(args: argparse.Namespace, threads: int, clients: list[int], settle: float) -> dict:
    out: dict = {
        "threads": threads,
        "baseline_direct_ms": baseline_ms(args.model, args.map, threads, args.baseline_runs),
    }
    work = Path(tempfile.mkdtemp(prefix="daub-bench-serve-"))
    tmp, downloads = work / "tmp", work / "downloads"
    tmp.mkdir()
    downloads.mkdir()
    server = Server(tmp, work / "server.log", args.model, threads, args.cache_age)
    try:
        url = server.start()
        sampler = Sampler(server.pid, tmp, args.interval)
        sampler.start()
        probe = client(url, downloads / "probe")
        reference = render_bytes(probe, args.map, args.model, 123456789)
        out["idle_rss_mb"] = round(sampler.rss_now() / MB, 1)  # model loaded, one render made
        if args.warmup:  # the server's allocator and caches reach their working size under the most clients
            warm = phase(url, max(clients), args.warmup, args, downloads, sampler, 10**6)
            out["warmup"] = {k: warm[k] for k in ("clients", "renders", "errors", "wall_s", "peak_rss_mb")}
        out["phases"] = []
        seed = 1000
        for n in clients:
            out["phases"].append(phase(url, n, args.renders, args, downloads, sampler, seed))
            seed += args.renders
        run_samples = [rss for stamp, rss in sampler.samples if stamp >= sampler.marks[1 if args.warmup else 0]]
        out["rss_drift_mb"] = drift(run_samples)
        out["byte_identical_after"] = render_bytes(probe, args.map, args.model, 123456789) == reference
        probe.close()
        time.sleep(settle)
        out["temp_files_after_settle"] = named(file_counts(tmp))
        out["settle_s"] = settle
        sampler.stop()
    finally:
        server.stop()
        log = (work / "server.log").read_text(errors="replace") if (work / "server.log").exists() else ""
        shutil.rmtree(work, ignore_errors=True)
    out["server_log"] = {"tracebacks": log.count("Traceback"), "lines": len(log.splitlines())}
    return out


def render_bytes(client, map_path: str, model: str, seed: int) -> bytes:
    from gradio_client import handle_file

    path = Path(client.predict(handle_file(map_path), model, seed, api_name="/render"))
    data = path.read_bytes()
    path.unlink(missing_ok=True)
    return data


def phase(
    url: str, n: int, renders: int, args: argparse.Namespace, downloads: Path, sampler: Sampler, seed0: int
) -> dict:
    """``n`` clients x their share of ``renders`` renders; latency, errors, RSS and files of the phase."""
    shares = [renders // n + (1 if k < renders % n else 0) for k in range(n)]
    made = [client(url, downloads / f"c{n}-{k}") for k in range(n)]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client_loop(k: int) -> None:
        first = seed0 + sum(shares[:k])
        for seed in range(first, first + shares[k]):
            t0 = time.perf_counter()
            try:
                render_bytes(made[k], args.map, args.model, seed)
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(ms)
            except Exception as e:  # noqa: BLE001 - every failure is a figure here
                with lock:
                    errors.append(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200])

    start = sampler.mark()
    server_cpu, own_cpu = sampler.cpu_now(), time.process_time()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(client_loop, range(n)))
    wall = time.perf_counter() - t0
    server_cpu, own_cpu = sampler.cpu_now() - server_cpu, time.process_time() - own_cpu
    for c in made:
        c.close()
    rss = [r for stamp, r in sampler.samples if stamp >= start]
    files = [f for stamp, f in sampler.files if stamp >= start]
    latencies.sort()
    return {
        "clients": n,
        "renders": len(latencies),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:3],
        "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 95), 1) if latencies else None,
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "renders_per_s": round(len(latencies) / wall, 2),
        "wall_s": round(wall, 1),
        # CPU time per render barely moves with other work on the machine (wall times do)
        "server_cpu_ms_per_render": round(1000 * server_cpu / max(1, len(latencies)), 1),
        "client_cpu_ms_per_render": round(1000 * own_cpu / max(1, len(latencies)), 1),
        "peak_rss_mb": round(max(rss) / MB, 1) if rss else None,
        "peak_server_threads": max((k for stamp, k in sampler.threads if stamp >= start), default=None),
        "rss_drift_mb": drift(rss),
        "temp_files_peak": named(tuple(map(max, zip(*files, strict=True)))) if files else None,
        "temp_files_end": named(file_counts(sampler.tmp)),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation) of already sorted values."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def drift(samples: list[int]) -> dict | None:
    """Mean RSS of the first and the last 10 % of ``samples`` (at least one each) and their difference, in MB."""
    if not samples:
        return None
    k = max(1, len(samples) // 10)
    first, last = statistics.fmean(samples[:k]) / MB, statistics.fmean(samples[-k:]) / MB
    return {"first_10pct": round(first, 1), "last_10pct": round(last, 1), "drift": round(last - first, 1)}


def file_counts(tmp: Path) -> tuple[int, int, int]:
    """Files the server has under its ``TMPDIR``: in the Studio's ``daub-*`` folder, in gradio's cache, elsewhere."""
    studio = gradio = other = 0
    for dirpath, _, names in os.walk(tmp):
        rel = Path(dirpath).relative_to(tmp).parts
        if rel and rel[0].startswith("daub-"):
            studio += len(names)
        elif rel and rel[0] == "gradio":
            gradio += len(names)
        else:
            other += len(names)
    return studio, gradio, other


def named(files: tuple[int, int, int]) -> dict:
    return dict(zip(("studio", "gradio", "other"), files, strict=True))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_page(url: str, timeout: float, exited: Callable[[], str | None] = lambda: None) -> str:
    """Poll ``url`` until it answers 200 (returns it); ``RuntimeError`` after ``timeout`` seconds, or at once
    when ``exited()`` says why the server is gone."""
    deadline = time.time() + timeout
    while True:
        why = exited()
        if why:
            raise RuntimeError(why)
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return url
        except OSError:
            if time.time() > deadline:
                raise RuntimeError(f"the server did not answer at {url} within {timeout:.0f} s") from None
            time.sleep(0.5)


class Server:
    """``python -m synth serve`` on a free port with its own ``TMPDIR``."""

    def __init__(self, tmp: Path, log: Path, model: str, threads: int, cache_age: int):
        self.tmp, self.log, self.model, self.threads, self.cache_age = tmp, log, model, threads, cache_age
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self, timeout: float = 180) -> str:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "GRADIO_TEMP_DIR"}
        env.update(TMPDIR=str(self.tmp), GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        cmd = [sys.executable, "-m", "synth", "serve", "--port", str(port), "--model", self.model]
        cmd += ["--threads", str(self.threads), "--cache-age", str(self.cache_age)]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        return wait_for_page(f"http://127.0.0.1:{port}/", timeout, self._exited)

    def _exited(self) -> str | None:
        if self.proc.poll() is None:
            return None
        last = (self.log.read_text(errors="replace").strip().splitlines() or ["no output"])[-1]
        return f"daub serve exited with {self.proc.returncode}: {last}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Sampler(threading.Thread):
    """Samples the server's RSS every ``interval`` seconds and its temp files about once a second."""

    def __init__(self, pid: int, tmp: Path, interval: float):
        super().__init__(daemon=True)
        import psutil

        self.proc, self.tmp, self.interval = psutil.Process(pid), tmp, interval
        self.samples: list[tuple[float, int]] = []
        self.threads: list[tuple[float, int]] = []
        self.files: list[tuple[float, tuple[int, int, int]]] = []
        self.marks: list[float] = []
        self._halt = threading.Event()

    def rss_now(self) -> int:
        return self.proc.memory_info().rss

    def cpu_now(self) -> float:
        """The server's user + system CPU seconds so far."""
        t = self.proc.cpu_times()
        return t.user + t.system

    def mark(self) -> float:
        self.marks.append(time.monotonic())
        return self.marks[-1]

    def run(self) -> None:
        last_files = 0.0
        while not self._halt.wait(self.interval):
            now = time.monotonic()
            try:
                self.samples.append((now, self.rss_now()))
                self.threads.append((now, self.proc.num_threads()))
            except Exception:  # noqa: BLE001 - the server went away; the phases report the errors
                return
            if now - last_files >= 1.0:
                self.files.append((now, file_counts(self.tmp)))
                last_files = now

    def stop(self) -> None:
        self._halt.set()
        self.join(5)
