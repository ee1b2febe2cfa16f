"""The time left on the node: ComfyUI's progress text under the bar (issue 12: the ETA of a slow
SepConv pair), driven by a fake ComfyUI and a fake clock."""
import sys
import types

import pytest

from frameweave.nodes import _comfy


@pytest.fixture
def fake_comfy(monkeypatch):
    """comfy.utils (bar), comfy_execution.utils (executing node) and server.PromptServer (texts)."""
    sent, bars = [], []

    class Bar:
        def __init__(self, total):
            bars.append([total])

        def update_absolute(self, done, total):
            bars[-1].append((done, total))

    class Server:
        def send_progress_text(self, text, node_id):
            sent.append((node_id, text))

    comfy = types.ModuleType("comfy")
    comfy.utils = types.SimpleNamespace(ProgressBar=Bar)
    execution = types.ModuleType("comfy_execution")
    execution.utils = types.SimpleNamespace(get_executing_context=lambda: types.SimpleNamespace(node_id="7"))
    server = types.ModuleType("server")
    server.PromptServer = types.SimpleNamespace(instance=Server())
    for name, module in {"comfy": comfy, "comfy.utils": comfy.utils, "comfy_execution": execution,
                         "comfy_execution.utils": execution.utils, "server": server}.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(_comfy, "check_interrupted", lambda: None)
    return sent, bars


def test_text_shows_elapsed_and_time_left(fake_comfy, monkeypatch):
    sent, bars = fake_comfy
    now = [100.0]
    monkeypatch.setattr(_comfy.Progress, "clock", staticmethod(lambda: now[0]))
    progress = _comfy.Progress(8)
    now[0] = 110.0
    progress(2, 8)                               # 10 s for 2 of 8: 30 s left
    now[0] = 110.5
    progress(3, 8)                               # within text_interval: bar only
    now[0] = 140.0
    progress(8, 8)                               # the end is always shown
    assert bars == [[8, (2, 8), (3, 8), (8, 8)]]
    assert sent == [("7", "2 / 8 · 10.0 s elapsed · about 30.0 s left"), ("7", "8 / 8 · 40.0 s elapsed")]


def test_long_runs_in_minutes():
    assert _comfy.progress_text(1, 89, 75.0) == "1 / 89 · 1:15 elapsed · about 1:50:00 left"
    assert _comfy.progress_text(0, 5, 3.0) == "0 / 5 · 3.0 s elapsed"


def test_no_text_outside_comfyui_or_without_the_api(monkeypatch):
    monkeypatch.setitem(sys.modules, "server", types.ModuleType("server"))   # no PromptServer
    assert _comfy._progress_text_sender() is None
    progress = _comfy.Progress(3)                # outside ComfyUI: no bar, no text, no error
    progress(1, 3)
