"""Training batches from worker processes: the turn of streams, exact resume, other worker counts."""
import pytest
import torch

from frameweave.vfi_core.synthetic_motion import load_photos
from frameweave.vfi_core.triplet_data import SyntheticSource, TripletStream
from frameweave.vfi_core.triplet_workers import stream_generator, streams_for


@pytest.fixture(scope="module")
def source():
    return SyntheticSource((32, 32), reach=6, max_shift=1, photos=load_photos(("astronaut", "coffee"), max_side=128))


def _take(stream, n):
    try:
        return [stream.next_batch() for _ in range(n)]
    finally:
        stream.close()


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for s, t in zip(x, y):
            torch.testing.assert_close(s, t, rtol=0, atol=0)


def test_smoke_and_cardinality(source):
    batches = _take(TripletStream(source, batch=3, seed=1, workers=2), 3)
    for batch in batches:
        assert [tuple(t.shape) for t in batch] == [(3, 3, 32, 32)] * 3
        assert all(t.dtype == torch.float32 for t in batch)


def test_one_worker_is_the_in_process_stream(source):
    """workers=1 draws exactly what workers=0 draws, and their states resume each other."""
    inproc, worker = TripletStream(source, batch=2, seed=5), TripletStream(source, batch=2, seed=5, workers=1)
    _assert_same(_take(inproc, 2), _take(worker, 2))
    assert worker.state() == {"workers": 1, "next": 0, "streams": [inproc.state()]}
    other = TripletStream(source, batch=2, seed=99, workers=1)
    other.set_state(inproc.state())
    back = TripletStream(source, batch=2, seed=99)
    back.set_state(worker.state())
    want = _take(inproc, 1)
    _assert_same(want, _take(other, 1))
    _assert_same(want, _take(back, 1))


def test_batches_take_turns(source):
    """Batch k comes from stream k mod N: with 2 workers, batch 0 is stream 0's (= the in-process
    stream's first batch) and batch 1 is stream 1's."""
    two = _take(TripletStream(source, batch=2, seed=5, workers=2), 2)
    _assert_same(two[:1], _take(TripletStream(source, batch=2, seed=5), 1))
    assert not torch.equal(two[0][0], two[1][0])


def test_resume_mid_turn_is_exact(source):
    """Three batches with 2 workers (the next turn is stream 1's), state, fresh stream: same batches."""
    straight = TripletStream(source, batch=2, seed=7, workers=2)
    head = [straight.next_batch() for _ in range(3)]
    state = straight.state()
    tail = _take(straight, 3)
    assert state["next"] == 1 and len(state["streams"]) == 2 and len(head) == 3
    resumed = TripletStream(source, batch=2, seed=123, workers=2)     # its own seed must not matter
    resumed.set_state(state)
    _assert_same(tail, _take(resumed, 3))


def test_another_worker_count_keeps_the_common_streams():
    """2 -> 3 workers: streams 0 and 1 continue, stream 2 starts fresh, the turn restarts at 0;
    3 -> 1: stream 0 continues."""
    saved = {"workers": 2, "next": 1, "streams": [{"s": 0}, {"s": 1}]}
    states, first = streams_for(saved, 3, seed=4)
    assert states[:2] == saved["streams"] and first == 0
    assert states[2] == stream_generator(4, 2).bit_generator.state
    states, first = streams_for(saved, 2, seed=4)
    assert states == saved["streams"] and first == 1
    assert streams_for(saved, 1, seed=4) == ([{"s": 0}], 0)
    assert streams_for(None, 2, seed=4)[0][0] == stream_generator(4, 0).bit_generator.state


def test_exception(source):
    with pytest.raises(ValueError, match="workers"):
        TripletStream(source, batch=2, workers=-1)
