"""Serving a pipeline over HTTP: ``spacy stsn serve MODEL``.

The app (:mod:`.app`, FastAPI) answers ``POST /extract`` with the records ``extract``
writes, from a micro-batcher (:mod:`.batching`) that gathers concurrent requests into
one ``nlp.pipe`` call on one inference thread; or, with ``--ray``, from Ray Serve
replicas (:mod:`.ray_serve`). docs/serving.md describes the API and the deployment.

An optional integration (``pip install spacy-stsn[serve]``): importing this package
imports the options only; FastAPI, uvicorn and Ray are imported when a server starts.
"""

from .options import ServeOptions

__all__ = ["ServeOptions", "serve"]


def serve(options: ServeOptions) -> None:
    """Serve ``options.model`` until SIGTERM or Ctrl-C: locally with uvicorn, or on a
    Ray cluster with ``options.ray``. Raises ``ValueError`` for a pipeline that does not
    load or an address that cannot be used."""
    if options.ray:
        from .ray_serve import serve_on_ray

        serve_on_ray(options)
    else:
        from .server import serve_locally

        serve_locally(options)
