"""Assemble a Hugging Face Space folder for the Daub demo.

``python spaces/build.py TARGET [--force]`` copies the packages the app imports (``synth/`` with its
shipped weights and example maps, ``palettes/``), the Space entry ``app.py``, ``requirements.txt``
and ``README.md`` (Space YAML front matter) into TARGET, ready to push to a Space repository.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
#: Folders copied from the repository root.
PACKAGES = ("synth", "palettes")
#: Space files: source in spaces/ -> name in the Space.
FILES = {"app.py": "app.py", "requirements.txt": "requirements.txt", "README.md": "README.md"}
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache", "runs")


def build(target: str | Path, force: bool = False) -> Path:
    """Write the Space into ``target`` (which must be empty or missing unless ``force``); returns it."""
    target = Path(target).resolve()
    inside_sources = any(target == ROOT / p or ROOT / p in target.parents for p in PACKAGES)
    if target == ROOT or target in ROOT.parents or inside_sources:
        raise ValueError(f"refusing to build into {target} (the repository or one of its packages)")
    if target.exists() and any(target.iterdir()):
        if not force:
            raise FileExistsError(f"{target} is not empty (use --force to replace it)")
        shutil.rmtree(target)
    target.mkdir(parents=True, exist_ok=True)
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, target / pkg, ignore=IGNORE)
    for src, dst in FILES.items():
        shutil.copy2(HERE / src, target / dst)
    readme = target / "README.md"
    readme.write_text(with_preload(readme.read_text()))
    missing = [p for p in ("synth/weights", "synth/examples") if not (target / p).is_dir()]
    if missing:
        raise FileNotFoundError(f"the Space lacks {', '.join(missing)}")
    return target


def preload_files() -> dict[str, tuple[str, ...]]:
    """Hub repo -> the exact files the Space's models read (ControlNet-seg's fp16 GPU load, UperNet)."""
    sys.path.insert(0, str(ROOT))
    from synth.generators.controlnet import HUB_FILES
    from synth.segmenters.upernet import HUB_FILES as UPERNET_FILES

    return {**{repo: files for repo, (files, _) in HUB_FILES.items()}, **UPERNET_FILES}


def with_preload(readme: str) -> str:
    """``readme`` with a ``preload_from_hub`` list (``repo file,file,...``) added to its YAML front matter."""
    head, sep, rest = readme.partition("\n---\n")
    if not head.startswith("---") or not sep:
        raise ValueError("spaces/README.md must start with YAML front matter between --- lines")
    lines = [f"  - {repo} {','.join(files)}" for repo, files in preload_files().items()]
    return head + "\npreload_from_hub:\n" + "\n".join(lines) + sep + rest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="spaces/build.py", description=__doc__.splitlines()[0])
    p.add_argument("target", help="folder to write the Space into")
    p.add_argument("--force", action="store_true", help="replace a non-empty target")
    args = p.parse_args(argv)
    try:
        out = build(args.target, force=args.force)
    except (ValueError, FileExistsError, FileNotFoundError) as e:
        print(f"spaces/build.py: error: {e}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
