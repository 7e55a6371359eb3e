"""``serve --ray``: the same app as a Ray Serve application, for more than one machine.

Two deployments: ``STSNIngress`` runs the FastAPI app of :mod:`.app` (HTTP, the
limits, the page, the metrics of its replica), and ``STSNExtractor`` the model, in
``replicas`` replicas that each load the pipeline once, with the CPUs or GPUs asked for
per replica. Serve's own ``@serve.batch`` gathers the documents that reach a replica
concurrently into one ``nlp.pipe`` call, run on one thread of the replica. The ingress
sends each text to the extractors through a deployment handle and asks again
(``RETRIES`` times) when the replica that had it dies: inference has no side effects,
and Serve starts a new replica meanwhile.

``serve run spacy_stsn.serve.ray_serve:build_app model=PATH replicas=2`` and ``serve
deploy`` configs use :func:`build_app`; docs/serving.md has the recipes (KubeRay's
``RayService`` included). Only imported when used: importing ``spacy_stsn`` or serving
locally never imports Ray.
"""

import asyncio
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Tuple, Union

import ray
from ray import serve
from ray.exceptions import ActorUnavailableError, RayActorError
from ray.serve.handle import DeploymentHandle

from .app import create_app
from .batching import NotReady
from .metrics import ServeMetrics
from .options import ServeOptions
from .pipeline import Annotator, ModelError, Record, Task
from .server import listen

APP_NAME = "stsn"
# asked again after the replica that had a text died: enough for Serve to have started
# another or to route to a live one
RETRIES = 2
# requests one ingress replica handles at once (it only awaits the extractors)
INGRESS_CONCURRENCY = 1024


@serve.deployment(name="STSNExtractor")
class Extractor:
    """A model replica: the pipeline, loaded once, on one thread of its own."""

    def __init__(self, options: ServeOptions) -> None:
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="stsn-inference")
        self.annotator = self.executor.submit(_load, options).result()
        self.annotate_batch.set_max_batch_size(options.max_batch)
        self.annotate_batch.set_batch_wait_timeout_s(options.max_wait_ms / 1000)

    async def annotate(self, text: str, html: bool) -> Union[Record, ModelError]:
        """The record of ``text``, or the :class:`ModelError` it failed with."""
        return await self.annotate_batch((text, html))

    @serve.batch
    async def annotate_batch(
        self, items: List[Tuple[str, bool]]
    ) -> List[Union[Record, ModelError]]:
        tasks = [Task([text], html) for text, html in items]
        results = await asyncio.get_running_loop().run_in_executor(
            self.executor, self.annotator.annotate, tasks
        )
        return [r if isinstance(r, ModelError) else r[0] for r in results]

    def pid(self) -> int:
        """The replica's process (to watch or stop it)."""
        return os.getpid()


def _load(options: ServeOptions) -> Annotator:
    # Ray gives each replica its own GPUs as device 0.. (CUDA_VISIBLE_DEVICES)
    gpu_id = 0 if options.num_gpus > 0 else -1
    annotator = Annotator(
        options.model, options.precision, options.tags, options.max_length, gpu_id
    )
    annotator.warm_up()
    return annotator


class HandleBackend:
    """The app's backend on Ray: each text to an extractor replica.

    extractor: the handle of the extractor deployment.
    metrics: where the texts asked again are counted (``retries``).
    """

    def __init__(self, extractor: DeploymentHandle, metrics: ServeMetrics) -> None:
        self.extractor, self.metrics = extractor, metrics

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def status(self) -> Tuple[bool, str]:
        # Serve routes to an ingress replica once the application is up: its
        # extractors have loaded the pipeline
        return True, "ready"

    async def annotate(self, texts: List[str], html: bool = False) -> List[Record]:
        results = await asyncio.gather(*(self._one(text, html) for text in texts))
        for result in results:
            if isinstance(result, ModelError):
                raise result
        return results

    async def _one(self, text: str, html: bool) -> Union[Record, ModelError]:
        for attempt in range(RETRIES + 1):
            try:
                return await self.extractor.annotate.remote(text, html)
            except (RayActorError, ActorUnavailableError) as err:
                self.metrics.retries.inc()
                if attempt == RETRIES:
                    raise NotReady(
                        f"the model replica died {RETRIES + 1} times: {err}"
                    ) from None
        raise AssertionError("unreachable")


@serve.deployment(name="STSNIngress", max_ongoing_requests=INGRESS_CONCURRENCY)
@serve.ingress()
class Ingress:
    """The HTTP side: the app of :mod:`spacy_stsn.serve.app` over the extractors."""

    def __init__(self, extractor: DeploymentHandle, options: ServeOptions) -> None:
        self.extractor, self.options = extractor, options

    def __serve_build_asgi_app__(self) -> Any:
        metrics = ServeMetrics()  # in the replica: a registry is no thing to pickle
        backend = HandleBackend(self.extractor, metrics)
        return create_app(self.options, backend, metrics)


def build_application(options: ServeOptions) -> serve.Application:
    """The Serve application of ``options``: ``replicas`` extractors of ``num_cpus`` /
    ``num_gpus`` each behind one ingress."""
    extractor = Extractor.options(
        num_replicas=options.replicas,
        ray_actor_options={"num_cpus": options.num_cpus, "num_gpus": options.num_gpus},
        # a replica takes in a batch and the next one while it computes
        max_ongoing_requests=2 * options.max_batch,
        max_queued_requests=options.max_queue,
    ).bind(options)
    return Ingress.options(ray_actor_options={"num_cpus": 0}).bind(extractor, options)


def build_app(args: Dict[str, Any]) -> serve.Application:
    """The application builder of ``serve run`` / ``serve deploy`` configs: ``args``
    are :class:`ServeOptions` fields (``model`` required), as strings or typed."""
    return build_application(ServeOptions.from_mapping(args))


def serve_on_ray(options: ServeOptions) -> None:
    """Run the application on the Ray cluster at ``options.address`` (or a local Ray
    instance started here) until SIGTERM or Ctrl-C, then delete it (Serve lets its
    replicas finish the requests they hold)."""
    if not ray.is_initialized():
        ray.init(address=options.address)
    port = options.port
    if port == 0:
        with listen(options.host, 0) as sock:
            port = sock.getsockname()[1]
    serve.start(http_options={"host": options.host, "port": port})
    serve.run(build_application(options), name=APP_NAME, route_prefix="/")
    print(
        f"serving on http://{options.host}:{port} with Ray Serve ({options.replicas} "
        "model replicas)",
        file=sys.stderr,
        flush=True,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    serve.delete(APP_NAME)
