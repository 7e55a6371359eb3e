"""Micro-batching for the local server: concurrent requests gathered into one
``nlp.pipe`` call on one inference thread, each answer handed to its own request.

The event loop only queues requests and hands out answers; the pipeline is loaded,
warmed up and run on a single worker thread (two threads calling ``nlp.pipe`` on one
pipeline change its predictions), so a long batch never stalls ``/health`` or the
reading of new requests. A batch closes at ``max_batch`` documents or ``max_wait`` after
its first request, whichever comes first; while the model is busy, the requests that
arrive meanwhile form the next batch. A request is never split: one with more texts
than ``max_batch`` is a batch of its own.
"""

import asyncio
import collections
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Deque, List, Optional, Tuple

from .metrics import ServeMetrics
from .pipeline import Annotator, ModelError, Record, Task, model_error


class NotReady(Exception):
    """The pipeline is not loaded and warmed up yet (or failed to load)."""


class Busy(Exception):
    """More documents wait for the model than the server queues."""


@dataclass
class _Waiting:
    task: Task
    future: "asyncio.Future[List[Record]]"


class MicroBatcher:
    """The local server's model: :meth:`annotate` from any request handler.

    load: builds the :class:`Annotator` (on the inference thread).
    max_batch: the most documents per ``nlp.pipe`` call.
    max_wait: seconds the first request of a batch waits for company.
    max_queue: the most documents waiting; beyond, :class:`Busy`.
    metrics: where batch sizes and the queue's length are recorded.
    on_failure: called with the error if the pipeline does not load.
    """

    def __init__(
        self,
        load: Callable[[], Annotator],
        max_batch: int,
        max_wait: float,
        max_queue: int,
        metrics: ServeMetrics,
        on_failure: Optional[Callable[[BaseException], None]] = None,
    ) -> None:
        self.load, self.max_batch, self.max_wait = load, max_batch, max_wait
        self.max_queue, self.metrics, self.on_failure = max_queue, metrics, on_failure
        self.ready = False
        self.failure: Optional[BaseException] = None
        self._waiting: Deque[_Waiting] = collections.deque()
        self._docs_waiting = 0
        self._arrived: Optional[asyncio.Event] = None  # made in the server's loop
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="stsn-inference")
        self._runner: Optional[asyncio.Task] = None

    async def start(self) -> None:
        """Load and warm up the pipeline in the background, then serve batches."""
        self._arrived = asyncio.Event()
        self._runner = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """Stop after the batch in flight (uvicorn has drained the requests by then)."""
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        for waiting in self._waiting:
            waiting.future.cancel()
        self._executor.shutdown(wait=True)

    async def annotate(self, texts: List[str], html: bool = False) -> List[Record]:
        """The records of ``texts``, in their order, once a batch has run them.

        Raises :class:`NotReady`, :class:`Busy` or (a failure inside the model)
        :class:`~spacy_stsn.serve.pipeline.ModelError`."""
        if not self.ready:
            raise NotReady(self._not_ready_reason())
        if self._docs_waiting + len(texts) > self.max_queue:
            raise Busy(
                f"{self._docs_waiting} documents are waiting for the model, the most "
                f"this server queues is {self.max_queue}; retry later"
            )
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(Task(list(texts), html), future))
        self._docs_waiting += len(texts)
        self.metrics.queue_documents.set(self._docs_waiting)
        self._arrived.set()
        return await future

    def status(self) -> Tuple[bool, str]:
        """(ready, what it is doing), for ``/ready``."""
        return self.ready, "ready" if self.ready else self._not_ready_reason()

    def _not_ready_reason(self) -> str:
        if self.failure is not None:
            return f"the pipeline failed to load: {self.failure}"
        return "the pipeline is still loading; see GET /ready"

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            annotator = await loop.run_in_executor(self._executor, self._load)
        except Exception as err:  # noqa: BLE001  (reported by /ready and the server)
            self.failure = err
            if self.on_failure is not None:
                self.on_failure(err)
            return
        self.ready = True
        while True:
            batch = await self._next_batch()
            if not batch:  # every request of it was cancelled
                continue
            tasks = [waiting.task for waiting in batch]
            self.metrics.batch_documents.observe(sum(len(t.texts) for t in tasks))
            try:
                results = await loop.run_in_executor(
                    self._executor, annotator.annotate, tasks
                )
            except Exception as err:  # noqa: BLE001  (fail the batch, not the server)
                results = [model_error(err)] * len(batch)
            for waiting, result in zip(batch, results):
                if waiting.future.done():  # the client went away
                    continue
                if isinstance(result, ModelError):
                    waiting.future.set_exception(result)
                else:
                    waiting.future.set_result(result)

    def _load(self) -> Annotator:
        annotator = self.load()
        annotator.warm_up()
        return annotator

    async def _next_batch(self) -> List[_Waiting]:
        """Wait for a request, then up to ``max_wait`` for others to fill the batch."""
        while not self._waiting:
            self._arrived.clear()
            await self._arrived.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while self._docs_waiting < self.max_batch:
            left = deadline - loop.time()
            if left <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except asyncio.TimeoutError:
                break
        batch: List[_Waiting] = []
        size = 0
        while self._waiting:
            n = len(self._waiting[0].task.texts)
            if batch and size + n > self.max_batch:
                break
            waiting = self._waiting.popleft()
            self._docs_waiting -= n
            if waiting.future.done():  # cancelled while it waited
                continue
            batch.append(waiting)
            size += n
        self.metrics.queue_documents.set(self._docs_waiting)
        return batch
