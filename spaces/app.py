"""Hugging Face Space entry point: the same app as ``daub serve`` / the repo's ``app.py``.

Host and port come from the Space (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT); DAUB_MODEL picks the
model selected at start. On ZeroGPU hardware the ``spaces`` package is imported first (before anything
touches CUDA, as ZeroGPU asks); the Studio then hands non-live renders to ``spaces.GPU`` and keeps the
live embedded models on the CPU (see ``synth.studio``). Elsewhere ``spaces`` is absent or a no-op.
"""

import os

try:
    import spaces  # noqa: F401
except ImportError:
    pass

from synth.app import build, launch  # noqa: E402

demo = build(os.environ.get("DAUB_MODEL") or None)

if __name__ == "__main__":
    launch(demo, host=None, port=None)
