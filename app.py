"""Daub web demo: ``python app.py [--share] [--host H] [--port P] [--model NAME] ...`` (same as ``daub serve``)."""

import sys

from synth.app import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="app.py"))
