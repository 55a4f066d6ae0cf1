"""Hugging Face Space entry point: the same app as ``daub serve`` / the repo's ``app.py``.

Host and port come from the Space (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT); DAUB_MODEL picks the
model selected at start. GPU work runs under ``spaces.GPU`` when the ``spaces`` package is present
(ZeroGPU), see ``synth.studio._gpu``.
"""

import os

from synth.app import build, launch

demo = build(os.environ.get("DAUB_MODEL") or None)

if __name__ == "__main__":
    launch(demo, host=None, port=None)
