"""Uploaded label maps for a web batch: loose PNGs and zip files of PNGs, unpacked safely into a folder.

A zip member with an absolute path or ``..`` is refused; members that are not ``.png`` (and hidden or
``__MACOSX`` files) are skipped. The number of maps and the bytes they unpack to are capped
(:data:`MAX_MAPS`, :data:`MAX_BYTES`), checked from a zip's headers before anything is written (Python's
``zipfile`` never yields more than a member's declared size).
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path, PurePosixPath

#: Most label maps one batch takes.
MAX_MAPS = 500
#: Most bytes the uploads of one batch may unpack to.
MAX_BYTES = 200 * 2**20
_CHUNK = 2**20


class _Budget:
    """Maps and bytes left; a one-line ``ValueError`` naming the limit when either runs out."""

    def __init__(self, maps: int, size: int):
        self.maps, self.bytes, self.max_maps, self.max_bytes = maps, size, maps, size

    def take_map(self) -> None:
        self.maps -= 1
        if self.maps < 0:
            raise ValueError(f"too many label maps: at most {self.max_maps} in one batch")

    def take_bytes(self, n: int) -> None:
        self.bytes -= n
        if self.bytes < 0:
            raise ValueError(f"the uploads unpack to more than {self.max_bytes // 2**20} MB (the batch limit)")


def unpack(paths: list[str | Path], dest: str | Path, max_maps: int | None = None, max_bytes: int | None = None):
    """Copy loose ``.png`` files and the ``.png`` members of ``.zip`` files into ``dest`` (created); returns
    the maps' paths. Loose files keep their names, zip members their paths inside the zip."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    budget = _Budget(MAX_MAPS if max_maps is None else max_maps, MAX_BYTES if max_bytes is None else max_bytes)
    out: list[Path] = []
    for path in map(Path, paths):
        suffix = path.suffix.lower()
        if suffix == ".png":
            budget.take_map()
            budget.take_bytes(path.stat().st_size)
            out.append(_copy(path, dest, path.name))
        elif suffix == ".zip":
            out += _unzip(path, dest, budget)
        else:
            raise ValueError(f"{path.name}: upload PNG label maps or .zip files of them")
    return out


def _target(dest: Path, rel: str) -> Path:
    target = dest / rel
    if target.exists():
        raise ValueError(f"two uploads are named {rel!r}: rename one")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _copy(src: Path, dest: Path, rel: str) -> Path:
    target = _target(dest, rel)
    shutil.copyfile(src, target)
    return target


def _member_path(zip_name: str, name: str) -> str | None:
    """A member's safe relative path, ``None`` to skip it; ``ValueError`` for an absolute path or ``..``."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise ValueError(f"{zip_name}: refused: member {name[:80]!r} has an absolute path or '..'")
    if pure.suffix.lower() != ".png" or any(p.startswith(".") or p == "__MACOSX" for p in pure.parts):
        return None
    return pure.as_posix()


def _unzip(path: Path, dest: Path, budget: _Budget) -> list[Path]:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            members = [(i, _member_path(path.name, i.filename)) for i in infos]
            members = [(i, rel) for i, rel in members if rel is not None]
            for info, _ in members:  # from the headers, before anything is written
                budget.take_map()
                budget.take_bytes(info.file_size)
            return [_extract(zf, info, _target(dest, rel)) for info, rel in members]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError) as e:
        raise ValueError(
            f"{path.name}: cannot read the zip file: {str(e).splitlines()[0] if str(e) else e!r}"
        ) from None


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> Path:
    with zf.open(info) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)
    return target


__all__ = ["MAX_BYTES", "MAX_MAPS", "unpack"]
