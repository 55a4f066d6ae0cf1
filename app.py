"""Daub web demo: ``python app.py [--share] [--host H] [--port P] [--model NAME]`` (same as ``daub serve``)."""

import sys

from synth.app import build, launch, parser

if __name__ == "__main__":
    args = parser("app.py").parse_args(sys.argv[1:])
    launch(build(args.model), host=args.host, port=args.port, share=args.share)
