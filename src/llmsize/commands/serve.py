"""``llmsize serve``: the local page and JSON API (``web/app.py``), served by uvicorn.

FastAPI and uvicorn are the ``web`` extra, imported here only: the core never needs them.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import LlmsizeError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--open", action="store_true", help="open the page in a browser")
    p.add_argument("--allow-hub", action="store_true",
                   help="let the page size Hub ids (reads config.json and headers over the network)")


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..web.app import create_app
    except ImportError as e:
        raise LlmsizeError(f"llmsize serve needs the web extra ({e.name} is missing): "
                           "pip install 'llmsize[web]'") from None
    if not 0 < args.port < 65536:
        raise LlmsizeError(f"--port {args.port} is not a port (1–65535)")
    hosts: tuple[str, ...] = (*LOOPBACK, "[::1]") if args.host in LOOPBACK else ("*",)
    if args.host not in LOOPBACK:
        print(f"warning: serving on {args.host}: anyone who can reach this address can use the page",
              file=sys.stderr)
    url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}/"
    print(f"llmsize: serving {url} (Ctrl-C stops)", file=sys.stderr)
    if args.open:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, (url,)).start()
    uvicorn.run(create_app(allow_hub=args.allow_hub, hosts=hosts), host=args.host, port=args.port,
                log_level="warning")
    return 0
