"""``daub`` command line: ``daub labels | render | render-batch | render-video | bench | train | eval | convert | serve``.

Each subcommand lives in its own module and parses its own arguments; this file only dispatches.
Errors (``ValueError``, missing files) print one line ``daub: error: …`` and exit 2.
"""

from __future__ import annotations

import importlib
import sys

#: subcommand -> (module, function, summary)
COMMANDS = {
    "labels": ("synth.commands", "labels_main", "painted colour PNG -> index PNG (with --report JSON)"),
    "render": ("synth.commands", "render_main", "label map PNG -> photo PNG with a backend"),
    "render-batch": ("synth.render_batch", "main", "a folder of label maps -> photos (resumable; --ray)"),
    "render-video": ("synth.video", "main", "label-map frames or a video -> a video of photos"),
    "bench": ("synth.bench", "main", "print speed figures as JSON (labels, generators)"),
    "train": ("synth.train", "main", "train an embedded SPADE-style model"),
    "eval": ("synth.evaluate", "main", "measure a model's quality with a segmenter (JSON)"),
    "convert": ("synth.convert", "main", "official SPADE .pth -> safetensors"),
    "serve": ("synth.app", "main", "start the web demo"),
}


def usage() -> str:
    lines = ["usage: daub COMMAND [options]   (daub COMMAND --help for each)", "", "commands:"]
    lines += [f"  {name:<12} {summary}" for name, (_, _, summary) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        print(f"daub: error: unknown command {cmd!r} (choose from {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[cmd]
    try:
        return int(getattr(importlib.import_module(module), func)(rest) or 0)
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as e:
        print(f"daub {cmd}: error: {e}".splitlines()[0], file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
