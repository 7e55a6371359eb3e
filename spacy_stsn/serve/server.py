"""Running the local server: uvicorn on one socket, the app over the micro-batcher, and
a graceful exit at SIGTERM or Ctrl-C (uvicorn stops accepting connections, finishes the
requests in flight within ``--graceful-timeout``, then the app stops its inference
thread)."""

import socket
import sys
from typing import IO, Optional

from .app import create_app
from .batching import MicroBatcher
from .metrics import ServeMetrics
from .options import ServeOptions
from .pipeline import Annotator


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: a free port); ``ValueError``
    naming the address when it is taken or not this machine's."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {err.strerror}") from None
    sock.listen(2048)
    return sock


class LocalServer:
    """The app over a :class:`~spacy_stsn.serve.batching.MicroBatcher`, on uvicorn.

    options: the model and the limits.
    log: where the address is printed once listening (default: stderr).
    """

    def __init__(self, options: ServeOptions, log: Optional[IO[str]] = None) -> None:
        import uvicorn

        self.log = log
        metrics = ServeMetrics()
        self.batcher = MicroBatcher(
            lambda: Annotator(
                options.model,
                options.precision,
                options.tags,
                options.max_length,
                options.gpu_id,
            ),
            options.max_batch,
            options.max_wait_ms / 1000,
            options.max_queue,
            metrics,
            on_failure=lambda err: self.stop(),
        )
        self.app = create_app(options, self.batcher, metrics)
        config = uvicorn.Config(
            self.app,
            lifespan="on",
            access_log=options.access_log,
            timeout_graceful_shutdown=options.graceful_timeout,
        )
        self.server = uvicorn.Server(config)

    def run(self, sock: socket.socket) -> None:
        """Serve on ``sock`` until SIGTERM or Ctrl-C (in the main thread) or
        :meth:`stop`; ``ValueError`` if the pipeline did not load."""
        host, port = sock.getsockname()[:2]
        address = f"[{host}]" if ":" in host else host
        print(
            f"serving on http://{address}:{port} (the page at /, POST /extract; "
            f"GET /ready once the pipeline is loaded)",
            file=self.log or sys.stderr,
            flush=True,
        )
        self.server.run(sockets=[sock])
        failure = self.batcher.failure
        if failure is not None:
            raise ValueError(str(failure)) from failure

    def stop(self) -> None:
        """Exit as at SIGTERM: finish the requests in flight, then stop."""
        self.server.should_exit = True


def serve_locally(options: ServeOptions) -> None:
    """Serve on ``options.host``:``options.port`` until SIGTERM or Ctrl-C."""
    sock = listen(options.host, options.port)
    LocalServer(options).run(sock)
