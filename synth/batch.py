"""Many label maps at once: ``daub render-batch IN OUT`` on this machine or on a Ray cluster.

Every label map under ``IN`` (index PNGs, or colour PNGs of ``--palette``) becomes a photo under ``OUT``
with the same relative path (``NAME-seedS.png`` beside it when several seeds are asked for). A run can
be killed and started again: finished photos are skipped, each photo is written under a temporary name
and renamed into place (never half a file), and leftovers of a killed write are removed on restart.
``OUT/manifest.jsonl`` traces every photo (input, seed, backend, options, output, seconds) and every
failure (input, seed, error); a bad map is reported and skipped, the rest go on.

The same :class:`Renderer` runs in both paths: :func:`render_local` in this process, :func:`render_ray`
in the actors of a Ray Data ``map_batches`` pool (one loaded generator per actor; ``num_gpus`` per actor
for GPU backends), so the photos are byte-identical for the same seeds.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: File name of the manifest in ``OUT`` (one JSON object per line).
MANIFEST = "manifest.jsonl"
#: Label-map files looked for under ``IN``.
MAP_SUFFIXES = (".png",)
#: Maps per Ray batch: live (CPU) backends take many per call, diffusion backends one (a GPU each).
LIVE_BATCH, SLOW_BATCH = 8, 1
_TMP_MARK = ".daub-partial"


@dataclass(frozen=True)
class Task:
    """One photo to make: the map ``input`` (``rel`` under ``IN``) with ``seed``, written to ``output``."""

    input: str
    rel: str
    seed: int
    output: str


@dataclass
class Settings:
    """What a renderer needs, as plain data (it travels to Ray actors).

    Attributes:
        backend: backend name (:func:`synth.load`).
        palette: palette of the input maps (``None``: the backend's).
        load: keyword arguments of :func:`synth.load`.
        options: backend options for every render (e.g. ``prompt``, ``steps``).
        threads: torch intra-op threads per renderer (``None``: leave torch's setting).
    """

    backend: str
    palette: str | None = None
    load: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    threads: int | None = None


def find_maps(root: str | Path, skip: str | Path | None = None) -> list[Path]:
    """Label-map files under ``root`` in name order (``skip``: a folder to leave out, e.g. ``OUT`` inside ``IN``)."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"IN: no such folder: {root}")
    skip = Path(skip).resolve() if skip is not None else None
    found = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in MAP_SUFFIXES or not path.is_file() or path.name.startswith("."):
            continue
        if skip is not None and skip in path.resolve().parents:
            continue
        found.append(path)
    return found


def plan(root: str | Path, out: str | Path, seeds: list[int]) -> list[Task]:
    """Every (map, seed) under ``root`` as a :class:`Task` writing under ``out``."""
    if not seeds:
        raise ValueError("--seeds: give at least one seed")
    root, out = Path(root), Path(out)
    tasks = []
    for path in find_maps(root, skip=out):
        rel = path.relative_to(root)
        for seed in seeds:
            name = rel.with_suffix(".png") if len(seeds) == 1 else rel.with_name(f"{rel.stem}-seed{seed}.png")
            tasks.append(Task(str(path), rel.as_posix(), int(seed), str(out / name)))
    return tasks


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` or ``"0-3"`` -> seeds (each in 0..2**32-1, no repeats)."""
    from synth.generators.base import MAX_SEED

    seeds: list[int] = []
    try:
        for part in (p.strip() for p in str(text).split(",")):
            if not part:
                continue
            lo, sep, hi = part.partition("-")
            seeds += list(range(int(lo), int(hi) + 1)) if sep and lo else [int(part)]
    except ValueError:
        raise ValueError(f"--seeds must be numbers like 0,1,2 or 0-3, got {str(text)[:40]!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0 or max(seeds) > MAX_SEED:
        raise ValueError(f"--seeds must be distinct numbers in 0..{MAX_SEED}, got {str(text)[:40]!r}")
    return seeds


def one_line(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:300]


@contextlib.contextmanager
def written_whole(path: str | Path) -> Iterator[Path]:
    """A hidden temporary path beside ``path`` (same suffix) to write to; renamed onto ``path`` when the
    block ends, removed when it raises: never half a file at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{threading.get_ident()}{_TMP_MARK}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(image, path: str | Path) -> None:
    """Save ``image`` as PNG at ``path`` through :func:`written_whole`."""
    with written_whole(path) as tmp:
        image.save(tmp, format="PNG")


class Manifest:
    """``OUT/manifest.jsonl``: appended one whole line per write (``O_APPEND``), from any process."""

    def __init__(self, out: str | Path):
        self.path = Path(out) / MANIFEST

    def rows(self) -> list[dict]:
        if not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill: skipped
                continue
        return rows

    def add(self, row: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = (json.dumps(row, sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


class Renderer:
    """Loads the backend once; :meth:`__call__` renders one :class:`Task` and returns its manifest row."""

    def __init__(self, settings: Settings, manifest: str | Path | None = None, gen=None):
        """``gen``: a generator already loaded (e.g. the web demo's) instead of loading ``settings.backend``."""
        import synth
        from palettes import load as load_palette

        if settings.threads is not None:
            import torch

            torch.set_num_threads(int(settings.threads))
        self.settings = settings
        self.gen = gen if gen is not None else synth.load(settings.backend, **settings.load)
        self.palette = load_palette(settings.palette) if settings.palette else self.gen.palette
        if self.palette.name != self.gen.palette.name:
            raise ValueError(
                f"backend {self.gen.name!r} takes palette {self.gen.palette.name!r}, not {self.palette.name!r}"
            )
        unknown = sorted(set(settings.options) - set(getattr(self.gen, "options", ())))
        if unknown:
            raise ValueError(f"backend {self.gen.name!r} does not take {', '.join(unknown)}")
        self.manifest = Manifest(manifest) if manifest is not None else None

    def __call__(self, task: Task) -> dict:
        from synth.labels import to_labels

        row = {"input": task.rel, "seed": task.seed, "backend": self.gen.name}
        t0 = time.perf_counter()
        try:
            ids = to_labels(task.input, self.palette)
            image = self.gen.generate(ids, seed=task.seed, num_images=1, **self.settings.options)[0]
            write_atomic(image, task.output)
        except (ValueError, OSError, RuntimeError) as e:
            row["error"] = one_line(e)
        else:
            row.update(
                options=_plain(self.settings.options), output=task.output, seconds=round(time.perf_counter() - t0, 4)
            )
        if self.manifest is not None:
            self.manifest.add(row)
        return row


def _plain(options: dict) -> dict:
    """Options as JSON can hold them (arrays and images named by type)."""
    return {
        k: v if isinstance(v, (str, int, float, bool, type(None))) else type(v).__name__ for k, v in options.items()
    }


def prepare(tasks: list[Task], out: str | Path) -> list[Task]:
    """What is left to do in ``out``: leftovers of killed writes removed, finished photos skipped (and
    added to the manifest when a kill came between the photo and its line)."""
    out = Path(out)
    for leftover in out.rglob(f".*{_TMP_MARK}*") if out.exists() else ():
        leftover.unlink(missing_ok=True)
    manifest = Manifest(out)
    traced = {row.get("output") for row in manifest.rows()}
    todo = []
    for task in tasks:
        if not Path(task.output).exists():
            todo.append(task)
        elif task.output not in traced:
            manifest.add(
                {
                    "input": task.rel,
                    "seed": task.seed,
                    "output": task.output,
                    "seconds": None,
                    "note": "found on restart",
                }
            )
    return todo


@dataclass
class Summary:
    """What a batch did: photos made now, skipped (already there), failed (with the first errors)."""

    total: int
    rendered: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, row: dict) -> None:
        if "error" in row:
            self.failed += 1
            if len(self.errors) < 10:
                self.errors.append(f"{row['input']} (seed {row['seed']}): {row['error']}")
        else:
            self.rendered += 1

    def to_dict(self) -> dict:
        return asdict(self)


def _progress(total: int, initial: int, quiet: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="map", file=sys.stderr, disable=quiet, desc="render-batch")


def render_local(
    tasks: list[Task],
    out: str | Path,
    settings: Settings,
    quiet: bool = False,
    gen=None,
    on_task: Callable[[int, int], None] | None = None,
) -> Summary:
    """Render the tasks not yet done in this process, one after another.

    ``gen``: a loaded generator to use (see :class:`Renderer`); ``on_task(done, total)`` after each task
    (``done`` counts the skipped ones too)."""
    todo = prepare(tasks, out)
    summary = Summary(len(tasks), skipped=len(tasks) - len(todo))
    t0 = time.perf_counter()
    if todo:
        renderer = Renderer(settings, manifest=out, gen=gen)
        with _progress(len(tasks), summary.skipped, quiet) as bar:
            for k, task in enumerate(todo, 1):
                summary.add(renderer(task))
                bar.update(1)
                if on_task is not None:
                    on_task(summary.skipped + k, len(tasks))
    summary.seconds = round(time.perf_counter() - t0, 3)
    return summary


class _RayRenderer:
    """A Ray Data actor: one :class:`Renderer` (one loaded generator), a batch of task rows per call."""

    def __init__(self, settings: dict, out: str):
        self.renderer = Renderer(Settings(**settings), manifest=out)

    def __call__(self, batch: dict) -> dict:
        rows = []
        for i in range(len(batch["input"])):  # numpy values in a batch: back to plain str and int
            task = Task(str(batch["input"][i]), str(batch["rel"][i]), int(batch["seed"][i]), str(batch["output"][i]))
            rows.append(self.renderer(task))
        return {"row": [json.dumps(r, sort_keys=True) for r in rows]}


def render_ray(
    tasks: list[Task],
    out: str | Path,
    settings: Settings,
    address: str | None = None,
    workers: int = 2,
    gpus_per_worker: float | None = None,
    num_cpus: int | None = None,
    quiet: bool = False,
) -> Summary:
    """Render the tasks not yet done with Ray Data: ``from_items`` of the task list, ``map_batches`` over an
    actor pool of ``workers`` renderers. ``address``: a running cluster (``ray://host:10001``, ``auto``) or
    ``None`` for ``RAY_ADDRESS`` if set, else a Ray started on this machine (``num_cpus`` CPUs).
    ``gpus_per_worker``: default 1 for non-live backends on a cluster with GPUs, else 0."""
    import ray

    from synth import generators

    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    todo = prepare(tasks, out)
    summary = Summary(len(tasks), skipped=len(tasks) - len(todo))
    t0 = time.perf_counter()
    if not todo:
        return summary
    started = not ray.is_initialized()
    if started:
        address = address or os.environ.get("RAY_ADDRESS") or None
        local = {"num_cpus": num_cpus or os.cpu_count(), "include_dashboard": False} if address is None else {}
        ray.init(address=address, log_to_driver=False, logging_level="ERROR", **local)
    try:
        live = generators.get(settings.backend).live
        if gpus_per_worker is None:
            gpus_per_worker = 1.0 if not live and ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        ds = ray.data.from_items([asdict(t) for t in todo])
        ds = ds.map_batches(
            _RayRenderer,
            fn_constructor_kwargs={"settings": asdict(settings), "out": str(out)},
            batch_size=LIVE_BATCH if live else SLOW_BATCH,
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=1,
            num_gpus=gpus_per_worker,
            batch_format="numpy",
        )
        with _progress(len(tasks), summary.skipped, quiet) as bar:
            for item in ds.iter_rows():
                summary.add(json.loads(item["row"]))
                bar.update(1)
    finally:
        if started:
            ray.shutdown()
    summary.seconds = round(time.perf_counter() - t0, 3)
    return summary


def run_batch(
    inp: str | Path,
    out: str | Path,
    settings: Settings,
    seeds: Iterable[int] = (0,),
    ray_address: str | None = None,
    use_ray: bool = False,
    workers: int = 2,
    quiet: bool = False,
) -> Summary:
    """Plan the batch ``inp`` -> ``out`` and render it here or on Ray (``use_ray``)."""
    tasks = plan(inp, out, list(seeds))
    if not tasks:
        raise ValueError(f"IN: no label maps ({', '.join(MAP_SUFFIXES)}) under {inp}")
    Path(out).mkdir(parents=True, exist_ok=True)
    if use_ray:
        return render_ray(tasks, out, settings, ray_address, workers, quiet=quiet)
    return render_local(tasks, out, settings, quiet=quiet)


__all__ = [
    "MANIFEST",
    "Manifest",
    "Renderer",
    "Settings",
    "Summary",
    "Task",
    "find_maps",
    "parse_seeds",
    "plan",
    "prepare",
    "render_local",
    "render_ray",
    "run_batch",
    "write_atomic",
    "written_whole",
]
