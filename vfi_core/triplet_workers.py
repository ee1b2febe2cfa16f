"""Training batches made in worker processes (``train sepconv --workers N``).

A synthetic triplet costs ~8 ms of one core at 128x128 (``benchmarks/train_speed.py``), so one
process feeds a GPU a few hundred samples a second at most. Here N worker processes (a
``torch.utils.data.DataLoader`` over an iterable dataset) each own one stream: a
``numpy.random.Generator`` that draws whole batches from the source.

Streams and order (what makes a resumed run exact):

* stream 0 is seeded like the in-process stream (``default_rng(seed)``), stream i > 0 from
  ``SeedSequence(seed, spawn_key=(i,))``; a stream is the same whatever the worker count;
* batch k of the run comes from stream k mod N (the loader takes the workers' batches in turn);
* every batch travels with its stream's generator state after drawing it, so the state of what
  the trainer has *consumed* is known exactly although the workers draw ahead: ``state()`` is
  ``{"workers": N, "next": k mod N, "streams": [state of stream i, ...]}``.

Resuming with the same N continues the same sequence, batch for batch. With one worker the
sequence is the in-process one (``workers=0``), and the two resume each other exactly. With
another count M the streams both counts have continue where they were, the others start fresh
from the seed (or are dropped), and the turn restarts at stream 0: the sequence changes (the
same distribution, no batch repeated) — see :func:`streams_for`.
"""
import json

import numpy as np
import torch


def stream_generator(seed: int, index: int) -> np.random.Generator:
    """Stream ``index``'s generator at its start: stream 0 = the in-process stream's seed."""
    if index == 0:
        return np.random.default_rng(int(seed))
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(index),)))


def stack_triplets(triplets) -> tuple:
    """list of (first, middle, last) float32 [h,w,3] -> three float32 NCHW [B,3,h,w] tensors."""
    return tuple(torch.from_numpy(np.stack([t[k] for t in triplets])).permute(0, 3, 1, 2).contiguous()
                 for k in range(3))


def streams_for(state, workers: int, seed: int) -> tuple:
    """(generator states of ``workers`` streams, index of the stream whose batch comes next) from a
    saved stream state: the in-process form (one generator state) or the workers form. Streams
    the state lacks start fresh from ``seed``; the turn restarts at 0 when the count changed."""
    if state is None:
        saved, next_stream = [], 0
    elif "workers" in state:
        saved, next_stream = list(state["streams"]), int(state["next"])
    else:
        saved, next_stream = [state], 0                      # in-process stream = stream 0
    if len(saved) != max(1, workers):
        next_stream = 0
    states = [saved[i] if i < len(saved) else stream_generator(seed, i).bit_generator.state
              for i in range(max(1, workers))]
    return states, next_stream


class _WorkerBatches(torch.utils.data.IterableDataset):
    """The dataset each loader worker iterates: endless batches of its own stream.

    Loader worker w serves stream (w + first) mod N, so the loader's turn (worker 0 first)
    starts at stream ``first``."""

    def __init__(self, source, batch: int, states: list, first: int):
        self.source, self.batch, self.states, self.first = source, int(batch), states, int(first)

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        index = (info.id + self.first) % len(self.states)
        rng = np.random.default_rng()
        rng.bit_generator.state = self.states[index]
        while True:
            batch = stack_triplets([self.source.sample(rng) for _ in range(self.batch)])
            yield (*batch, index, json.dumps(rng.bit_generator.state))


class WorkerStreams:
    """Batches from ``workers`` processes in a fixed turn (see module docstring); ``pin_memory``
    puts them in page-locked memory for asynchronous copies to a GPU."""

    def __init__(self, source, batch: int, workers: int, seed: int, state=None, pin_memory: bool = False,
                 prefetch: int = 2):
        if int(workers) < 1:
            raise ValueError(f"WorkerStreams needs at least one worker, got {workers}")
        self.source, self.batch, self.workers, self.seed = source, int(batch), int(workers), int(seed)
        self.pin_memory, self.prefetch = bool(pin_memory), int(prefetch)
        self.states, self.next_stream = streams_for(state, self.workers, self.seed)
        self._batches = None

    def _start(self):
        dataset = _WorkerBatches(self.source, self.batch, self.states, self.next_stream)
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=None, num_workers=self.workers, pin_memory=self.pin_memory,
            prefetch_factor=self.prefetch,
            generator=torch.Generator().manual_seed(0))      # not the global RNG: resume stays exact
        self._batches = iter(loader)

    def next_batch(self) -> tuple:
        if self._batches is None:
            self._start()
        first, middle, last, index, state = next(self._batches)
        index = int(index)
        if index != self.next_stream:                        # the loader's turn is the contract
            raise RuntimeError(f"batch from stream {index}, expected stream {self.next_stream}")
        self.states[index] = json.loads(state)
        self.next_stream = (index + 1) % self.workers
        return first, middle, last

    def state(self) -> dict:
        return {"workers": self.workers, "next": self.next_stream, "streams": json.loads(json.dumps(self.states))}

    def close(self) -> None:
        """Stop the workers; the next batch restarts them from the consumed state (same sequence)."""
        batches, self._batches = self._batches, None
        if batches is not None and hasattr(batches, "_shutdown_workers"):
            batches._shutdown_workers()
