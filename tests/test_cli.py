"""The command line (cli.py): run / interpolate / nodes / train through ``main([...])``, exit codes,
and one real ``python -m frameweave`` subprocess."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import frameweave
from frameweave import cli
from frameweave.nodes import NODE_CLASS_MAPPINGS
from frameweave.vfi_core import frames_io, methods
from frameweave.vfi_core.console import ProgressBar, format_seconds
from frameweave.vfi_core.timing import FrameTiming

ROOT = Path(frameweave.__file__).resolve().parent


# --- small nodes registered for the duration of a test -------------------------------------
class CliNumber:
    RETURN_TYPES = ("NUMBER",)
    FUNCTION = "go"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1, "min": 0, "max": 10}),
                             "note": ("STRING", {"default": ""}), "loud": ("BOOLEAN", {"default": False}),
                             "scale": ("FLOAT", {"default": 1.0})}}

    def go(self, value, note, loud, scale):
        from frameweave.nodes import _comfy
        progress = _comfy.Progress(4)     # the node's own bar: drawn by the CLI while it runs
        for i in range(1, 5):
            progress(i)
        return (value * scale,)


class CliWrite:
    """Output node writing a text file into the output directory (as Save Frames does)."""
    RETURN_TYPES = ("STRING", "FLOAT")
    RETURN_NAMES = ("path", "value")
    FUNCTION = "go"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("NUMBER",), "filename_prefix": ("STRING", {"default": "cli"})}}

    def go(self, x, filename_prefix):
        from frameweave.nodes._comfy import output_directory
        out = output_directory() / f"{filename_prefix}.txt"
        if x < 0:
            raise ValueError(f"negative value {x}")
        out.write_text(str(x))
        return {"ui": {"text": [f"wrote {x}"]}, "result": (str(out), float(x))}


@pytest.fixture
def cli_nodes(monkeypatch):
    monkeypatch.setitem(NODE_CLASS_MAPPINGS, "CliNumber", CliNumber)
    monkeypatch.setitem(NODE_CLASS_MAPPINGS, "CliWrite", CliWrite)


def write_workflow(tmp_path, value=3, scale=1.0):
    wf = {"1": {"class_type": "CliNumber", "inputs": {"value": value, "note": "", "loud": False, "scale": scale}},
          "2": {"class_type": "CliWrite", "inputs": {"x": ["1", 0], "filename_prefix": "cli"}}}
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(wf))
    return path


# --- run ------------------------------------------------------------------------------------
def test_run_writes_into_output_dir_and_reports(tmp_path, cli_nodes, capsys):
    wf = write_workflow(tmp_path)
    out = tmp_path / "out"
    assert cli.main(["run", str(wf), "--output-dir", str(out)]) == 0
    assert (out / "cli.txt").read_text() == "3.0"
    printed = capsys.readouterr().out
    assert f"path: {out / 'cli.txt'}" in printed and "value: 3.0000" in printed and "text: wrote 3.0" in printed
    assert "FRAMEWEAVE_OUTPUT_DIR" not in os.environ or os.environ["FRAMEWEAVE_OUTPUT_DIR"] != str(out)


def test_run_progress_lines(tmp_path, cli_nodes, capsys):
    from frameweave.nodes import _comfy
    base = _comfy.Progress
    assert cli.main(["run", str(write_workflow(tmp_path)), "--output-dir", str(tmp_path)]) == 0
    assert _comfy.Progress is base, "the CLI's progress hook is removed after the run"
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "[1/2] CliNumber (node 1)" and err[1].startswith("    [")
    assert any("[############################]  4/4  100%" in line for line in err)
    assert err[-1].startswith("ran 2 node(s) in")
    assert cli.main(["run", str(write_workflow(tmp_path)), "--output-dir", str(tmp_path), "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_run_set_overrides_are_typed(tmp_path, cli_nodes, capsys):
    wf = write_workflow(tmp_path)
    args = ["run", str(wf), "--output-dir", str(tmp_path), "--json", "--set", "1.value=7",
            "--set", "1.scale=0.5", "--set", "1.note=123", "--set", "1.loud=yes", "--set", "2.filename_prefix=x y"]
    assert cli.main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["2"]["outputs"]["value"] == 3.5 and report["2"]["class_type"] == "CliWrite"
    assert (tmp_path / "x y.txt").read_text() == "3.5"


@pytest.mark.parametrize("extra, message", [
    (["--set", "9.value=1"], "there is no node '9'"),
    (["--set", "1.nope=1"], "has no input 'nope'; its inputs: value, note, loud, scale"),
    (["--set", "1.value=abc"], "expected an integer, got 'abc'"),
    (["--set", "value=1"], "write NODE_ID.INPUT=VALUE"),
    (["--set", "1.value=11"], "node 1 (CliNumber), input 'value': value 11 is bigger than the maximum 10"),
])
def test_run_usage_and_validation_errors_exit_2(tmp_path, cli_nodes, capsys, extra, message):
    wf = write_workflow(tmp_path)
    assert cli.main(["run", str(wf), "--output-dir", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o" / "cli.txt").exists()


def test_run_output_dir_errors_and_no_folder_for_a_rejected_workflow(tmp_path, cli_nodes, capsys):
    wf = write_workflow(tmp_path)
    a_file = tmp_path / "file.gif"
    a_file.write_bytes(b"x")
    for target, message in ((a_file, "exists and is not a folder"), (a_file / "sub", "cannot be created")):
        assert cli.main(["run", str(wf), "--output-dir", str(target)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert cli.main(["run", str(wf), "--output-dir", str(tmp_path / "a" / "deep"), "--set", "1.value=11"]) == 2
    assert not (tmp_path / "a").exists()


def test_run_unknown_node_and_empty_ui_workflow_exit_2(tmp_path, capsys):
    wf = tmp_path / "wf.json"
    wf.write_text(json.dumps({"3": {"class_type": "KSampler", "inputs": {}}}))
    assert cli.main(["run", str(wf)]) == 2
    assert "node 3 (KSampler): unknown node type" in capsys.readouterr().err
    wf.write_text(json.dumps({"nodes": [], "links": []}))
    assert cli.main(["run", str(wf)]) == 2
    assert "the UI workflow has no nodes to run" in capsys.readouterr().err


def test_run_node_failure_exits_1_without_traceback(tmp_path, cli_nodes, capsys):
    wf = write_workflow(tmp_path, scale=-1.0)
    assert cli.main(["run", str(wf), "--output-dir", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "node 2 (CliWrite) failed: ValueError: negative value -3.0" in err and "Traceback" not in err
    assert not (tmp_path / "o" / "cli.txt").exists()


# --- interpolate ------------------------------------------------------------------------------
@pytest.fixture
def gif_clip(tmp_path, make_clip):
    """A 4-frame real-photo pan saved as GIF with uneven delays (0.1, 0.2, 0.1, 0.3 s)."""
    path = tmp_path / "in.gif"
    frames_io.write_frames(path, make_clip(4, size=(32, 40)), timing=FrameTiming.from_durations([0.1, 0.2, 0.1, 0.3]))
    return path


def _blend_clip(frames, fractions, timing=None, progress=None, strength: float = 1.0):
    """An independent linear blend for the CLI tests (the real methods are tested elsewhere)."""
    out = [frames[:1]]
    for i in range(frames.shape[0] - 1):
        for t in fractions:
            out.append(((1 - t) * frames[i] + t * frames[i + 1])[None] * strength)
        out.append(frames[i + 1:i + 2])
        if progress is not None:
            progress(i + 1, frames.shape[0] - 1)
    return torch.cat(out)


def _failing_clip(frames, fractions, timing=None, progress=None):
    progress(1, 3)
    raise RuntimeError("out of memory in the middle")


@pytest.fixture
def fake_methods(monkeypatch):
    real = methods.get_method

    def get(name):
        return {"blend": _blend_clip, "failing": _failing_clip}.get(name) or real(name)
    monkeypatch.setattr(methods, "get_method", get)


def test_interpolate_writes_gif_with_timing(tmp_path, gif_clip, fake_methods, capsys):
    out = tmp_path / "out.gif"
    assert cli.main(["interpolate", str(gif_clip), "-o", str(out), "--method", "blend", "--multiplier", "4",
                     "--option", "strength=1.0"]) == 0
    clip = frames_io.read_frames(out)
    assert clip.frames.shape == (13, 32, 40, 3)
    # each interval split in four, the total length (0.7 s) kept; GIF delays are centiseconds
    assert clip.timing.end == pytest.approx(0.7, abs=0.011)
    assert clip.timing.durations()[:4] == pytest.approx([0.025] * 4, abs=0.011)
    assert clip.timing.durations()[4:8] == pytest.approx([0.05] * 4, abs=0.011)
    captured = capsys.readouterr()
    assert f"wrote {out}: 13 frames 40x32" in captured.out
    assert "blend x4" in captured.err   # the progress bar (stderr is not a terminal: plain lines)


def test_interpolate_times_and_range(tmp_path, gif_clip, fake_methods):
    out = tmp_path / "folder"
    assert cli.main(["interpolate", str(gif_clip), "-o", str(out), "--method", "blend", "--times", "0.5,0.25",
                     "--start", "1", "--max-frames", "2", "-q"]) == 0
    clip = frames_io.read_frames(out)
    assert clip.frames.shape[0] == 4
    src = frames_io.read_frames(gif_clip).frames
    torch.testing.assert_close(clip.frames[1], 0.75 * src[1] + 0.25 * src[2], atol=1.5 / 255, rtol=0)


def test_interpolate_with_the_real_linear_method(tmp_path, make_clip):
    clip = make_clip(3, size=(24, 32))
    src = tmp_path / "in"
    frames_io.write_frames(src, clip, fps=10)                  # a PNG folder with its timing
    out = tmp_path / "out.png"
    assert cli.main(["interpolate", str(src), "-o", str(out), "--method", "linear", "-q"]) == 0
    result = frames_io.read_frames(out)
    assert result.frames.shape == (5, 24, 32, 3)
    torch.testing.assert_close(result.frames[1], (clip[0] + clip[1]) / 2, atol=1 / 255, rtol=0)
    assert result.timing.timestamps == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2], abs=1e-3)


def test_interpolate_prints_reader_notes(tmp_path, make_clip, fake_methods, capsys):
    from PIL import Image
    folder = tmp_path / "rgba"
    folder.mkdir()
    for i, frame in enumerate(make_clip(2, size=(16, 20))):
        rgba = (torch.cat([frame, torch.full_like(frame[..., :1], 0.5)], dim=-1) * 255).round().byte().numpy()
        Image.fromarray(rgba, "RGBA").save(folder / f"{i}.png")
    assert cli.main(["interpolate", str(folder), "-o", str(tmp_path / "o.gif"), "--method", "blend", "--fps", "5"]) == 0
    assert "note: converted RGBA to RGB" in capsys.readouterr().err


def _interrupted_clip(frames, fractions, timing=None, progress=None):
    raise KeyboardInterrupt


def test_interpolate_ctrl_c_writes_nothing(tmp_path, gif_clip, monkeypatch, capsys):
    monkeypatch.setattr(methods, "get_method", lambda name: _interrupted_clip)
    assert cli.main(["interpolate", str(gif_clip), "-o", str(tmp_path / "o.gif")]) == 130
    assert "interrupted; nothing was written" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [gif_clip]


def test_interpolate_failure_leaves_no_output(tmp_path, gif_clip, fake_methods, capsys):
    out = tmp_path / "out.mp4"
    assert cli.main(["interpolate", str(gif_clip), "-o", str(out), "--method", "failing"]) == 1
    assert "failing failed: RuntimeError: out of memory in the middle" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [gif_clip]


@pytest.mark.parametrize("args, message", [
    (["--method", "nope"], "unknown method 'nope'"),
    (["--method", "blend", "--times", "0.5,1.5"], "times must lie strictly between 0 and 1"),
    (["--method", "blend", "--multiplier", "1"], "--multiplier must be at least 2"),
    (["--method", "blend", "--option", "sigma=2"], "--option sigma: this method has no such option; its options: strength"),
    (["--method", "blend", "-o", "{tmp}/out.avi"], "cannot write '.avi' files"),
    (["--method", "blend", "-o", "{tmp}/missing/out.gif"], "does not exist"),
    (["--method", "blend", "-o", "{in}"], "must not overwrite the input"),
    (["--method", "blend", "--step", "0"], "--step must be >= 1, got 0"),
    (["--method", "blend", "--start", "3", "--stop", "2"], "--stop (2) must be after --start (3)"),
    # options passed on through **options, internal parameters, and what a method can check up front
    (["--method", "neco", "--option", "bogus=1"], "--option bogus: this method has no such option; its options: "
                                                  "keyframe_residual, encoding, L, sigma"),
    (["--method", "siren-of", "--option", "config=1"], "--option config: this method has no such option"),
    (["--method", "sepconv-gan", "--option", "method=x"], "--option method: this method has no such option; "
                                                          "its options: weights, tile_size, fp16, device, chunk"),
    (["--method", "sepconv", "--option", "model=x"], "--option model: this method has no such option"),
    (["--method", "flow", "--option", "flow=x"], "--option flow: this method has no such option"),
    (["--method", "sepconv", "--option", "ensemble=3"], "ensemble must be one of 1, 2, 4, 8"),
    (["--method", "sepconv", "--option", "weights=\"nope\""], "unknown SepConv weights 'nope'"),
])
def test_interpolate_usage_errors_exit_2(tmp_path, gif_clip, fake_methods, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)).replace("{in}", str(gif_clip)) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "out.gif")]
    assert cli.main(["interpolate", str(gif_clip), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "read " not in err and "Traceback" not in err    # refused before reading
    assert list(tmp_path.iterdir()) == [gif_clip]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_interpolate_cuda_device_without_cuda_exits_2(tmp_path, gif_clip, capsys):
    assert cli.main(["interpolate", str(gif_clip), "-o", str(tmp_path / "o.gif"), "--method", "neco",
                     "--option", "device=\"cuda\""]) == 2
    assert "device 'cuda': CUDA is not available" in capsys.readouterr().err


def test_interpolate_multiplier_and_times_exclude_each_other(tmp_path, gif_clip, capsys):
    assert cli.main(["interpolate", str(gif_clip), "-o", str(tmp_path / "o.gif"), "--multiplier", "2",
                     "--times", "0.5"]) == 2
    assert "argument --times: not allowed with argument --multiplier" in capsys.readouterr().err


def test_interpolate_bad_input_file(tmp_path, fake_methods, capsys):
    assert cli.main(["interpolate", str(tmp_path / "none.gif"), "-o", str(tmp_path / "o.gif")]) == 2
    assert "input not found" in capsys.readouterr().err
    broken = tmp_path / "broken.gif"
    broken.write_bytes(b"GIF89a not really")
    assert cli.main(["interpolate", str(broken), "-o", str(tmp_path / "o.gif"), "--method", "blend"]) == 1
    assert "could not read" in capsys.readouterr().err
    assert not (tmp_path / "o.gif").exists()


def test_list_methods(capsys):
    assert cli.main(["interpolate", "--list-methods"]) == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in methods.METHODS)


# --- nodes / train / misc --------------------------------------------------------------------------
def test_nodes_listing(cli_nodes, capsys):
    assert cli.main(["nodes"]) == 0
    text = capsys.readouterr().out
    assert "CliWrite" in text and "value INT (= 1, 0..10)" in text and "path STRING, value FLOAT" in text
    assert cli.main(["nodes", "--markdown"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| Node | Id |")
    row = next(line for line in table if "`CliWrite`" in line)
    assert "`x` NUMBER<br>`filename_prefix` STRING (= 'cli')" in row and "`path` STRING<br>`value` FLOAT" in row


def test_train_forwards_arguments(monkeypatch):
    import types
    seen = {}
    fake = types.ModuleType("frameweave.vfi_core.train_cli")
    fake.main = lambda argv: seen.setdefault("argv", argv) and 0
    monkeypatch.setitem(sys.modules, "frameweave.vfi_core.train_cli", fake)
    assert cli.main(["train", "--epochs", "3", "--help-me"]) == 0
    assert seen["argv"] == ["--epochs", "3", "--help-me"]


def test_train_missing_module_is_clear(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "frameweave.vfi_core.train_cli", None)   # import raises
    assert cli.main(["train"]) == 2
    assert "training" in capsys.readouterr().err


def test_usage_errors(capsys):
    assert cli.main([]) == 2
    assert cli.main(["frobnicate"]) == 2
    assert cli.main(["--version"]) == 0
    assert frameweave.__version__ in capsys.readouterr().out


def test_progress_bar_rendering():
    import io
    stream = io.StringIO()
    bar = ProgressBar("fit", stream=stream, width=10)
    for i in range(1, 21):
        bar(i, 20)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert 2 <= len(lines) <= 11 and lines[-1].startswith("fit  [##########]  20/20  100%")
    assert any("[#####-----]  10/20   50%" in line for line in lines)   # one line per 10 % off a terminal
    half = ProgressBar("x", stream=io.StringIO(), width=10)
    half(5, 10)
    assert half.render().startswith("x  [#####-----]  5/10   50%") and "eta" in half.render()
    assert format_seconds(1.234) == "1.2 s" and format_seconds(75) == "1:15" and format_seconds(3725) == "1:02:05"


def test_help(capsys):
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    assert all(cmd in text for cmd in ("run", "interpolate", "train", "nodes"))


def test_python_m_frameweave_subprocess(tmp_path):
    """The real entry point, in a fresh interpreter outside the checkout: exit code 2 and a clean
    message (no traceback) for a workflow that uses another pack's node."""
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"1": {"class_type": "NotAFrameWeaveNode", "inputs": {}}}))
    env = {**os.environ, "PYTHONPATH": ""}
    proc = subprocess.run([sys.executable, "-m", "frameweave", "run", str(bad)], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "node 1 (NotAFrameWeaveNode): unknown node type" in proc.stderr and "Traceback" not in proc.stderr


class _Tty:
    """A stream that says it is a terminal."""
    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass

    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_redraws_one_line():
    stream = _Tty()
    with ProgressBar("fit", stream=stream, width=10, min_interval=0.0) as bar:
        for i in range(1, 5):
            bar(i, 4)
    assert stream.text.count("\n") == 1 and stream.text.endswith("\n")
    frames = stream.text.rstrip("\n").split("\r")[1:]
    assert len(frames) == 4 and frames[0].startswith("fit  [##--------]  1/4   25%")
    assert frames[-1].startswith("fit  [##########]  4/4  100%")
    quiet = _Tty()
    ProgressBar("x", stream=quiet, enabled=False)(1, 2)
    assert quiet.text == ""


def test_quickstart_workflow_end_to_end(tmp_path, monkeypatch, capsys):
    """The README's first command: run from an unrelated folder (the bundled clip is found in the
    package), write a GIF with (N-1)*4+1 frames whose delays split the input's evenly."""
    monkeypatch.chdir(tmp_path)
    workflow = ROOT / "example_workflows" / "quickstart.json"
    assert cli.main(["run", str(workflow), "--output-dir", "renders", "-q"]) == 0
    written = tmp_path / "renders" / "quickstart_00001.gif"
    assert f"path: {written}" in capsys.readouterr().out
    assert not list((tmp_path / "renders").glob("*.part"))
    source = frames_io.read_frames(ROOT / "examples" / "pan_zoom.gif")
    out = frames_io.read_frames(written)
    n = source.frames.shape[0]
    assert out.frames.shape == ((n - 1) * 4 + 1, *source.frames.shape[1:])
    expected = source.timing.with_inserted([0.25, 0.5, 0.75])
    # GIF delays are whole centiseconds: each may round by 1 cs, the total length is kept
    assert out.timing.durations() == pytest.approx(expected.durations(), abs=0.0101)
    assert out.timing.end - out.timing.timestamps[0] == pytest.approx(source.timing.end - source.timing.timestamps[0], abs=0.0101)
    # the input frames are still there, every 4th frame (up to GIF palette error)
    assert (out.frames[::4] - source.frames).abs().mean() < 0.02


def test_readme_node_table_is_current(capsys):
    """The README's node table is the output of `python -m frameweave nodes --markdown` (regenerate
    it when a node, widget or shipped weight file changes)."""
    assert cli.main(["nodes", "--markdown"]) == 0
    table = capsys.readouterr().out.strip()
    assert table in (ROOT / "README.md").read_text(encoding="utf-8"), \
        "README.md node table is stale: paste the output of `python -m frameweave nodes --markdown`"


# --- issue 16: overwrite, multiplier cap, streaming, truthful summary, Ctrl-C after the write -----------
def test_interpolate_refuses_to_overwrite_unless_asked(tmp_path, gif_clip, fake_methods, capsys):
    out = tmp_path / "out.gif"
    out.write_bytes(b"keep me")
    assert cli.main(["interpolate", str(gif_clip), "-o", str(out), "--method", "blend"]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    assert cli.main(["interpolate", str(gif_clip), "-o", str(out), "--method", "blend", "--overwrite", "-q"]) == 0
    assert frames_io.read_frames(out).frames.shape[0] == 7


@pytest.mark.parametrize("args, message", [
    (["--multiplier", "17"], "--multiplier must be at most 16 (as the nodes), got 17"),
    (["--multiplier", "1000"], "--multiplier must be at most 16"),
    (["--times", ",".join(str(i / 17) for i in range(1, 17))], "--times: at most 15 times per interval, got 16"),
])
def test_interpolate_caps_the_work_of_one_flag(tmp_path, gif_clip, fake_methods, capsys, args, message):
    assert cli.main(["interpolate", str(gif_clip), "-o", str(tmp_path / "o.gif"), "--method", "blend", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "read " not in err
    assert list(tmp_path.iterdir()) == [gif_clip]


@pytest.mark.parametrize("gif_timing, frames, seconds", [("stretch", 49, 0.98), ("keep_duration", 21, 0.7)])
def test_interpolate_summary_states_what_the_file_holds(tmp_path, gif_clip, fake_methods, capsys, gif_timing,
                                                        frames, seconds):
    """x16 of 0.1-0.3 s delays: 6-19 ms frames, below a GIF's 20 ms. The summary reads the file back."""
    out = tmp_path / "out.gif"
    assert cli.main(["interpolate", str(gif_clip), "-o", str(out), "--method", "blend", "--multiplier", "16",
                     "--gif-timing", gif_timing]) == 0
    text = capsys.readouterr().out
    back = frames_io.read_frames(out)
    assert back.frames.shape[0] == frames and back.timing.end == pytest.approx(seconds, abs=0.005)
    assert f"wrote {out}: {frames} frames 40x32, {seconds:.3f} s" in text
    assert "the interpolated clip has 49 frames over 0.700 s" in text
    assert "GIF shows at most 50 frames/s" in text and "webp" in text


def test_interpolate_summary_with_max_frames(tmp_path, gif_clip, fake_methods, capsys):
    out = tmp_path / "out.webp"
    assert cli.main(["interpolate", str(gif_clip), "-o", str(out), "--method", "blend", "--multiplier", "16",
                     "--max-frames", "2"]) == 0
    info = frames_io.probe(out)
    text = capsys.readouterr().out
    assert info["frame_count"] == 17
    assert f"17 frames 40x32, {info['duration']:.3f} s ({17 / info['duration']:.2f} fps average)" in text
    assert "note:" not in text                                    # WebP holds the timing as it is


def _counting_blend(frames, fractions, timing=None, progress=None):
    _counting_blend.calls.append(frames.shape[0])
    return _blend_clip(frames, fractions, timing, progress)


_counting_blend.pairwise = True


def test_interpolate_streams_pairwise_methods_segment_by_segment(tmp_path, make_clip, monkeypatch, capsys):
    """With room for one pair's output per segment, the method is called pair by pair and the writer
    gets the frames as they come; the file is the same as in one call."""
    clip = tmp_path / "in.webp"
    frames_io.write_frames(clip, make_clip(5, size=(16, 20)), fps=10)
    monkeypatch.setattr(methods, "get_method", lambda name: _counting_blend)
    monkeypatch.setattr(cli, "SEGMENT_BYTES", 1)
    _counting_blend.calls = []
    assert cli.main(["interpolate", str(clip), "-o", str(tmp_path / "seg.webp"), "--multiplier", "3", "-q"]) == 0
    assert _counting_blend.calls == [2, 2, 2, 2]                      # one pair at a time
    monkeypatch.setattr(cli, "SEGMENT_BYTES", 1 << 30)
    _counting_blend.calls = []
    assert cli.main(["interpolate", str(clip), "-o", str(tmp_path / "one.webp"), "--multiplier", "3", "-q"]) == 0
    assert _counting_blend.calls == [5]
    a, b = (frames_io.read_frames(tmp_path / n).frames for n in ("seg.webp", "one.webp"))
    assert a.shape[0] == 13 and torch.equal(a, b)


def _rejecting_clip(frames, fractions, timing=None, progress=None):
    raise ValueError("weights for another architecture")


def test_interpolate_value_error_of_a_one_call_method_is_the_methods(tmp_path, gif_clip, monkeypatch, capsys):
    """A method called once for the whole clip (neither pairwise nor streaming) that rejects its
    input is reported as the method's failure, not as the writer's ("could not write")."""
    monkeypatch.setattr(methods, "get_method", lambda name: _rejecting_clip)
    out = tmp_path / "o.gif"
    assert cli.main(["interpolate", str(gif_clip), "-o", str(out), "--method", "oneshot", "-q"]) == 1
    err = capsys.readouterr().err
    assert "oneshot failed: ValueError: weights for another architecture; nothing was written" in err
    assert "could not write" not in err and not out.exists()


def _rejecting_iter(frames, fractions, timing=None, progress=None, notify=None, report=None):
    raise ValueError("time_budget_s must be a positive number of seconds, got -1")   # before its stream


_rejecting_stream = type("Stream", (), {"__call__": staticmethod(_rejecting_clip),
                                        "iterate": staticmethod(_rejecting_iter)})()


def test_interpolate_setup_error_of_a_streaming_method_is_the_methods(tmp_path, gif_clip, monkeypatch, capsys):
    monkeypatch.setattr(methods, "get_method", lambda name: _rejecting_stream)
    out = tmp_path / "o.gif"
    assert cli.main(["interpolate", str(gif_clip), "-o", str(out), "--method", "neco", "-q"]) == 1
    err = capsys.readouterr().err
    assert "neco failed: ValueError: time_budget_s must be a positive number of seconds, got -1; nothing was" in err
    assert "could not write" not in err and not out.exists()


def test_interpolate_streams_flowguided_pair_by_pair(tmp_path, make_clip, monkeypatch):
    """The flow-guided method runs segment by segment like the other pairwise methods (the output
    clip is never held whole) and writes the same file as in one call."""
    real = methods.get_method("flowguided")
    calls = []

    def counting(frames, fractions, **kw):
        calls.append(frames.shape[0])
        return real(frames, fractions, **kw)

    counting.precheck = real.precheck
    clip = tmp_path / "in.webp"
    frames_io.write_frames(clip, make_clip(4, size=(32, 48)), fps=10)
    monkeypatch.setattr(methods, "get_method", lambda name: counting)
    monkeypatch.setattr(cli, "SEGMENT_BYTES", 1)
    assert cli.main(["interpolate", str(clip), "-o", str(tmp_path / "seg.webp"), "--method", "flowguided",
                     "-q"]) == 0
    assert calls == [2, 2, 2]
    monkeypatch.setattr(cli, "SEGMENT_BYTES", 1 << 30)
    calls.clear()
    assert cli.main(["interpolate", str(clip), "-o", str(tmp_path / "one.webp"), "--method", "flowguided",
                     "-q"]) == 0
    assert calls == [4]
    a, b = (frames_io.read_frames(tmp_path / n).frames for n in ("seg.webp", "one.webp"))
    assert a.shape[0] == 7 and torch.equal(a, b)


def _streaming_clip(frames, fractions, timing=None, progress=None):
    return torch.cat(list(_streaming_iter(frames, fractions, timing, progress)))


def _streaming_iter(frames, fractions, timing=None, progress=None, notify=None, report=None):
    if notify is not None:
        notify("rendering takes about 1 s")
    if report is not None:
        report["verdict"] = "BELOW the linear blend by 3.0 dB"
    for i in range(frames.shape[0] - 1):
        yield frames[i:i + 1]
        for t in fractions:
            yield ((1 - t) * frames[i] + t * frames[i + 1])[None]
    yield frames[-1:]


_streaming_clip.iterate = _streaming_iter


def test_interpolate_clip_method_stream_report_and_notes(tmp_path, gif_clip, monkeypatch, capsys):
    monkeypatch.setattr(methods, "get_method", lambda name: _streaming_clip)
    assert cli.main(["interpolate", str(gif_clip), "-o", str(tmp_path / "o.webp"), "--method", "neco"]) == 0
    captured = capsys.readouterr()
    assert "note: rendering takes about 1 s" in captured.err
    assert "neco fit: BELOW the linear blend by 3.0 dB" in captured.out
    assert frames_io.probe(tmp_path / "o.webp")["frame_count"] == 7


def test_interpolate_ctrl_c_after_the_write_exits_cleanly(tmp_path, gif_clip, fake_methods, monkeypatch, capsys):
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_written_summary", interrupted)
    out = tmp_path / "o.gif"
    assert cli.main(["interpolate", str(gif_clip), "-o", str(out), "--method", "blend"]) == 0
    err = capsys.readouterr().err
    assert f"interrupted after {out} was written completely" in err and "Traceback" not in err
    assert frames_io.read_frames(out).frames.shape[0] == 7


def test_program_ignores_ctrl_c_once_its_work_is_over(monkeypatch, capsys):
    """Run as a program, main() leaves SIGINT ignored on return, so a Ctrl-C during interpreter
    shutdown (torch's exit hooks) cannot print a traceback; called with argv (tests) it does not."""
    import signal
    calls = []
    monkeypatch.setattr(signal, "signal", lambda sig, handler: calls.append((sig, handler)))
    monkeypatch.setattr(sys, "argv", ["frameweave", "interpolate", "--list-methods"])
    assert cli.main() == 0
    assert calls == [(signal.SIGINT, signal.SIG_IGN)]
    calls.clear()
    assert cli.main(["interpolate", "--list-methods"]) == 0 and calls == []


class CliTalk:
    """A node that is not an output but reports in words (as the fit nodes report their quality)."""
    RETURN_TYPES = ("NUMBER",)
    FUNCTION = "go"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("NUMBER",)}}

    def go(self, x):
        return {"ui": {"text": [f"fit PSNR {x} dB; BELOW the linear blend"]}, "result": (x,)}


def test_run_prints_the_text_of_nodes_that_are_not_outputs(tmp_path, cli_nodes, monkeypatch, capsys):
    monkeypatch.setitem(NODE_CLASS_MAPPINGS, "CliTalk", CliTalk)
    wf = {"1": {"class_type": "CliNumber", "inputs": {"value": 3, "note": "", "loud": False, "scale": 1.0}},
          "2": {"class_type": "CliTalk", "inputs": {"x": ["1", 0]}},
          "3": {"class_type": "CliWrite", "inputs": {"x": ["2", 0], "filename_prefix": "cli"}}}
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(wf))
    assert cli.main(["run", str(path), "--output-dir", str(tmp_path / "o")]) == 0
    assert "text: fit PSNR 3.0 dB; BELOW the linear blend" in capsys.readouterr().out
    assert cli.main(["run", str(path), "--output-dir", str(tmp_path / "o"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["2"]["ui"]["text"] == ["fit PSNR 3.0 dB; BELOW the linear blend"] and "3" in report
