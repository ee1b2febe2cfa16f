"""Frame I/O with timing: round trips, GIF delays and compositing, streaming, bad input."""
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from frameweave.vfi_core import frame_writer
from frameweave.vfi_core.frame_writer import gif_plan, write_clip
from frameweave.vfi_core.frames_io import (iter_frames, probe, quantise_durations, read_chunks, read_frames,
                                           write_frames)
from frameweave.vfi_core.gif_format import gif_container
from frameweave.vfi_core.timing import FrameTiming

UNEVEN_MS = [100, 100, 150, 100, 100, 150, 200, 100]


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = torch.mean((a.double() - b.double()) ** 2).item()
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.fixture
def clip_with_repeat(make_clip):
    """8 frames of a pan over a real photo; frames 3 and 4 are identical (a held frame)."""
    c = make_clip(7, size=(48, 64), step=(1.0, 2.0))
    return torch.cat([c[:4], c[3:4], c[4:]]).contiguous()  # [8,48,64,3]


def uneven_timing():
    return FrameTiming.from_durations([d / 1000 for d in UNEVEN_MS])


def target(tmp_path, fmt):
    return tmp_path / "out_frames" if fmt == "folder" else tmp_path / f"out.{fmt}"


# --- round trips -----------------------------------------------------------------------------------
# format -> (minimum PSNR dB, timing tolerance s)
ROUND_TRIP = {"png": (55.0, 1e-9), "folder": (55.0, 1e-9), "gif": (30.0, 1e-9), "webp": (30.0, 1e-9),
              "mp4": (30.0, 1e-3), "mkv": (30.0, 1e-3)}


@pytest.mark.parametrize("fmt", list(ROUND_TRIP))
def test_round_trip(tmp_path, clip_with_repeat, fmt):
    min_psnr, tol = ROUND_TRIP[fmt]
    timing = uneven_timing()
    path = write_frames(target(tmp_path, fmt), clip_with_repeat, timing=timing)
    assert path.exists() and not list(tmp_path.glob("*.part"))
    clip = read_frames(path)
    assert clip.frames.shape == clip_with_repeat.shape
    assert clip.frames.dtype == torch.float32 and 0 <= clip.frames.min() and clip.frames.max() <= 1
    assert psnr(clip.frames, clip_with_repeat) > min_psnr
    got, want = np.asarray(clip.timing.timestamps), np.asarray(timing.timestamps)
    np.testing.assert_allclose(got - got[0], want, atol=tol)
    assert clip.timing.end - got[0] == pytest.approx(timing.end, abs=tol)  # the last frame's length too
    info = probe(path)
    assert (info["width"], info["height"]) == (64, 48)
    assert info["frame_count"] == 8 or (fmt == "mkv" and not info["frame_count_exact"])


@pytest.mark.parametrize("fmt", ["gif", "png", "webp"])
def test_no_duplicate_frame_is_merged(tmp_path, clip_with_repeat, fmt):
    """Pillow's own writers merge identical consecutive frames; ours must keep all 8. The count
    and the delays are checked with Pillow's reader (an independent demuxer for APNG/WebP)."""
    path = write_frames(target(tmp_path, fmt), clip_with_repeat, timing=uneven_timing())
    with Image.open(path) as im:
        assert im.n_frames == 8
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            im.load()
            durations.append(im.info["duration"])
    assert durations == UNEVEN_MS
    frames = read_frames(path).frames
    assert torch.equal(frames[3], frames[4])


def test_gif_read_by_ffmpeg(tmp_path, clip_with_repeat):
    """FFmpeg's GIF decoder sees the same frame count, delays and pixels as our reader."""
    av = pytest.importorskip("av")
    path = write_frames(tmp_path / "a.gif", clip_with_repeat, timing=uneven_timing())
    with av.open(str(path)) as container:
        decoded = [(f.to_ndarray(format="rgb24"), f.time) for f in container.decode(video=0)]
    assert len(decoded) == 8
    np.testing.assert_allclose([t for _, t in decoded], uneven_timing().timestamps, atol=1e-9)
    ours = (read_frames(path).frames * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(np.stack([f for f, _ in decoded]), ours)


def test_gif_delays_after_interpolation(tmp_path, make_clip):
    """4x interpolation of uneven delays: every interval split evenly, delays in whole 10 ms,
    cumulative times within half a unit of the true ones, total length unchanged."""
    timing = uneven_timing().with_inserted([0.25, 0.5, 0.75])      # 7 * 4 + 1 = 29 frames
    frames = make_clip(len(timing), size=(24, 32), step=(0.2, 0.5))
    clip = read_frames(write_frames(tmp_path / "x4.gif", frames, timing=timing))
    assert clip.frames.shape[0] == 29
    durations_ms = np.rint(clip.timing.durations() * 1000).astype(int)
    assert set(durations_ms[:-1]) <= {20, 30, 40, 50}              # 25, 37.5 and 50 ms in 10 ms units
    assert durations_ms[-1] == 100                                 # the last frame keeps its delay
    assert np.all(np.abs(np.asarray(clip.timing.timestamps) - np.asarray(timing.timestamps)) <= 0.005 + 1e-9)
    assert clip.timing.end == pytest.approx(timing.end, abs=1e-9)


def test_quantise_durations_keeps_cumulative_time():
    timing = FrameTiming.from_fps(30, 30.0)                        # 33.3 ms each, 1 s in total
    cs = quantise_durations(timing, 0.01)
    assert sum(cs) == 100 and set(cs) == {3, 4}
    naive = sum(round(d * 100) for d in timing.durations())
    assert naive == 90                                             # what per-frame rounding would do


def test_gif_minimum_delay_is_said(tmp_path, make_clip, caplog):
    frames = make_clip(6, size=(16, 16))
    with caplog.at_level(logging.WARNING, logger="frameweave"):
        path = write_frames(tmp_path / "fast.gif", frames, fps=100.0)
    assert "50 frames/s" in caplog.text
    with Image.open(path) as im:
        im.seek(0)
        assert im.info["duration"] >= 20


def test_gif_evened_delays_are_said(tmp_path, make_clip, caplog):
    """15 ms delays with a 60 ms last frame: the total fits at 20 ms a frame, but the per-frame
    timing changes, and the user is told (webp/apng keep it)."""
    frames = make_clip(9, size=(16, 16))
    timing = FrameTiming.from_durations([0.015] * 8 + [0.06])
    with caplog.at_level(logging.WARNING, logger="frameweave"):
        write_frames(tmp_path / "even.gif", frames, timing=timing)
    assert "the total 0.18 s is kept, the per-frame timing is evened out" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="frameweave"):
        write_frames(tmp_path / "slow.gif", frames, timing=FrameTiming.from_durations([0.05] * 9))
    assert caplog.text == ""


def _palette_gif(tmp_path):
    """A GIF with partial frames, disposal 2 and 3 and transparent pixels, and the frames a
    browser shows for it, composited here by hand (over black)."""
    rng = np.random.default_rng(0)
    pal = rng.integers(0, 256, (16, 3)).astype(np.uint8)
    pal[15] = [255, 0, 255]                                        # transparent index colour

    def pimg(idx):
        im = Image.fromarray(idx.astype(np.uint8), "P")
        im.putpalette(pal.flatten().tolist())
        return im

    a, b = rng.integers(0, 15, (12, 16)), rng.integers(0, 16, (6, 8))
    c, d = rng.integers(0, 16, (6, 8)), rng.integers(0, 15, (4, 4))
    data = gif_container([pimg(a), pimg(b), pimg(c), pimg(d)], [10, 20, 10, 30], (16, 12),
                         offsets=[(0, 0), (4, 3), (8, 6), (0, 0)], disposals=[1, 2, 3, 1],
                         transparency=[None, 15, 15, None])
    path = tmp_path / "disposal.gif"
    path.write_bytes(data)

    def paste(canvas, idx, x, y, transparent):
        canvas = canvas.copy()
        region = canvas[y:y + idx.shape[0], x:x + idx.shape[1]]
        keep = idx != transparent if transparent is not None else np.ones(idx.shape, bool)
        region[keep] = pal[idx[keep]]
        return canvas

    f0 = pal[a]
    f1 = paste(f0, b, 4, 3, 15)
    cleared = f1.copy()
    cleared[3:9, 4:12] = 0                                         # disposal 2 -> transparent -> black
    f2 = paste(cleared, c, 8, 6, 15)
    f3 = paste(cleared, d, 0, 0, None)                             # disposal 3 restored `cleared`
    return path, np.stack([f0, f1, f2, f3])


def test_gif_disposal_and_transparency(tmp_path):
    path, expected = _palette_gif(tmp_path)
    clip = read_frames(path)
    got = (clip.frames * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(got, expected)
    assert any("RGBA to RGB" in n for n in clip.notes)
    np.testing.assert_allclose(clip.timing.durations(), [0.1, 0.2, 0.1, 0.3])


def test_gif_disposal_matches_ffmpeg(tmp_path):
    av = pytest.importorskip("av")
    path, expected = _palette_gif(tmp_path)
    with av.open(str(path)) as container:
        rgba = np.stack([f.to_ndarray(format="rgba") for f in container.decode(video=0)])
    over_black = (rgba[..., :3].astype(np.uint16) * rgba[..., 3:] // 255).astype(np.uint8)
    assert np.array_equal(over_black, expected)


def test_dev_gifs_match_ffmpeg(dev_data):
    av = pytest.importorskip("av")
    for name in ("newtonscradle_imageio.gif", "sloth_tree_jacw28.gif"):  # variable delays; real footage
        path = dev_data / "gifs" / name
        if not path.exists():
            continue
        ours = (read_frames(path).frames * 255).round().to(torch.uint8).numpy()
        with av.open(str(path)) as container:
            rgba = np.stack([f.to_ndarray(format="rgba") for f in container.decode(video=0)])
        ref = (rgba[..., :3].astype(np.uint16) * rgba[..., 3:] // 255).astype(np.uint8)
        assert np.array_equal(ours, ref), path.name


# --- conversions -------------------------------------------------------------------------------------
def test_rgba_and_grayscale_are_converted(tmp_path, make_photo):
    rgb = (make_photo("astronaut", (16, 16)) * 255).astype(np.uint8)          # [32,32,3]
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, :16] = 0
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(tmp_path / "rgba.png")
    clip = read_frames(tmp_path / "rgba.png")
    assert clip.frames.shape == (1, 32, 32, 3)
    assert clip.frames[0, :, :16].max() == 0                                  # over black
    assert any("RGBA to RGB" in n for n in clip.notes)

    gray = rgb.mean(axis=-1).astype(np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "gray.png")
    clip = read_frames(tmp_path / "gray.png")
    assert clip.frames.shape == (1, 32, 32, 3)
    assert torch.equal(clip.frames[..., 0], clip.frames[..., 2])
    assert any("grayscale" in n for n in clip.notes)

    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "gray16.png")
    clip = read_frames(tmp_path / "gray16.png")
    np.testing.assert_allclose(clip.frames[0, ..., 1].numpy() * 255, gray, atol=0.51)


def test_folder_natural_order_and_fps(tmp_path, make_photo):
    folder = tmp_path / "frames"
    folder.mkdir()
    base = (make_photo("astronaut", (8, 8)) * 255).astype(np.uint8)
    for n in (10, 2, 1):                                                       # frame2 before frame10
        Image.fromarray(np.clip(base.astype(int) + n, 0, 255).astype(np.uint8)).save(folder / f"frame{n}.png")
    (folder / "notes.txt").write_text("ignored")
    clip = read_frames(folder, fps=10.0)
    means = [(clip.frames[i] * 255).mean().item() for i in range(3)]
    assert means[0] < means[1] < means[2]
    np.testing.assert_allclose(clip.timing.timestamps, [0.0, 0.1, 0.2])
    assert clip.timing.end == pytest.approx(0.3)
    default = read_frames(folder)
    assert default.timing.fps() == pytest.approx(25.0)
    assert any("25 fps" in n for n in default.notes)


def test_still_image(tmp_path, make_photo):
    Image.fromarray((make_photo("coffee", (12, 16)) * 255).astype(np.uint8)).save(tmp_path / "p.jpg")
    clip = read_frames(tmp_path / "p.jpg", fps=5)
    assert clip.frames.shape == (1, 24, 32, 3)
    assert clip.timing.timestamps == (0.0,) and clip.timing.end == pytest.approx(0.2)


def test_mp4_odd_size_padded(tmp_path, make_clip):
    frames = make_clip(4, size=(23, 31))
    clip = read_frames(write_frames(tmp_path / "odd.mp4", frames, fps=24))
    assert clip.frames.shape == (4, 24, 32, 3)
    assert psnr(clip.frames[:, :23, :31], frames) > 30
    assert clip.timing.fps() == pytest.approx(24.0, rel=1e-3)


# --- streaming and selection --------------------------------------------------------------------------
@pytest.fixture
def video_12(tmp_path, make_clip):
    frames = make_clip(12, size=(32, 48))
    return write_frames(tmp_path / "v.mp4", frames, fps=10.0), frames


def test_iter_frames_selection(video_12):
    path, frames = video_12
    got = list(iter_frames(path, start=2, stop=10, step=3))
    assert [round(t, 6) for _, t in got] == [0.2, 0.5, 0.8]
    assert all(a.dtype == np.uint8 and a.shape == (32, 48, 3) for a, _ in got)
    assert psnr(torch.from_numpy(got[1][0]).float() / 255, frames[5]) > 30
    assert len(list(iter_frames(path, start=1, max_frames=4))) == 4
    gen = iter_frames(path)
    assert next(gen)[1] == 0.0                                                  # lazy: one at a time
    gen.close()


def test_read_in_chunks_tiles_the_clip(video_12):
    path, _ = video_12
    whole = read_frames(path)
    chunks = [read_frames(path, start=s, max_frames=5) for s in (0, 5, 10)]
    assert torch.equal(torch.cat([c.frames for c in chunks]), whole.frames)
    assert chunks[0].timing.end == pytest.approx(chunks[1].timing.timestamps[0])  # chunks tile time
    assert chunks[2].timing.end == pytest.approx(whole.timing.end)
    stepped = read_frames(path, step=4)
    assert stepped.indices == (0, 4, 8) and stepped.timing.end == pytest.approx(1.2)
    one_pass = list(read_chunks(path, 5, start=1))                               # 11 frames: 5 + 5 + 1
    assert [c.indices for c in one_pass] == [(1, 2, 3, 4, 5), (6, 7, 8, 9, 10), (11,)]
    assert torch.equal(torch.cat([c.frames for c in one_pass]), whole.frames[1:])
    assert [c.timing.end for c in one_pass[:2]] == [c.timing.timestamps[0] for c in one_pass[1:]]
    assert one_pass[-1].timing.end == pytest.approx(whole.timing.end)
    with pytest.raises(ValueError, match="no frames selected"):
        list(read_chunks(path, 5, start=20))
    with pytest.raises(ValueError, match="chunk_frames"):
        read_chunks(path, 0)


def test_folder_streaming_never_decodes_unselected(tmp_path, make_photo):
    folder = tmp_path / "f"
    folder.mkdir()
    img = Image.fromarray((make_photo("astronaut", (8, 8)) * 255).astype(np.uint8))
    for i in range(4):
        img.save(folder / f"{i}.png")
    (folder / "4.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert read_frames(folder, stop=4).frames.shape[0] == 4
    assert read_frames(folder, step=2, max_frames=2).indices == (0, 2)
    with pytest.raises(ValueError, match="4.png"):
        read_frames(folder)


# --- bad input -------------------------------------------------------------------------------------
def test_missing_and_empty_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.gif"):
        read_frames(tmp_path / "nope.gif")
    (tmp_path / "empty.gif").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        read_frames(tmp_path / "empty.gif")
    (tmp_path / "clip.txt").write_text("hello")
    with pytest.raises(ValueError, match="unsupported"):
        read_frames(tmp_path / "clip.txt")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ValueError, match="no PNG/JPEG"):
        read_frames(tmp_path / "empty_dir")


def test_corrupt_and_truncated_gif(tmp_path, make_clip):
    good = write_frames(tmp_path / "good.gif", make_clip(3, size=(16, 16))).read_bytes()
    (tmp_path / "trunc.gif").write_bytes(good[: len(good) * 2 // 3])
    with pytest.raises(ValueError, match="trunc.gif.*truncated"):
        read_frames(tmp_path / "trunc.gif")
    (tmp_path / "junk.gif").write_bytes(b"GIF89a" + bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="junk.gif"):
        read_frames(tmp_path / "junk.gif")
    (tmp_path / "notgif.gif").write_bytes(b"this is not an image")
    with pytest.raises(ValueError, match="notgif.gif"):
        read_frames(tmp_path / "notgif.gif")
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    with pytest.raises(ValueError, match="bad.mp4"):
        read_frames(tmp_path / "bad.mp4")


def test_bad_selection(video_12):
    path, _ = video_12
    with pytest.raises(ValueError, match="no frames selected"):
        read_frames(path, start=50)
    with pytest.raises(ValueError, match="no frames selected"):
        read_frames(path, start=5, stop=5)
    with pytest.raises(ValueError, match="step"):
        read_frames(path, step=0)
    with pytest.raises(ValueError, match="max_frames"):
        iter_frames(path, max_frames=0)                                   # raised before iterating
    with pytest.raises(ValueError, match="start"):
        read_frames(path, start=-1)


def test_folder_of_different_sizes(tmp_path, make_photo):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray((make_photo("astronaut", (8, 8)) * 255).astype(np.uint8)).save(folder / "a1.png")
    Image.fromarray((make_photo("astronaut", (8, 10)) * 255).astype(np.uint8)).save(folder / "a2.png")
    with pytest.raises(ValueError, match="different sizes.*a2.png"):
        read_frames(folder)


def test_bad_writes_leave_nothing(tmp_path, make_clip, monkeypatch):
    frames = make_clip(4, size=(16, 16))
    bad = frames.clone()
    bad[2, 3, 3, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        write_frames(tmp_path / "nan.gif", bad)
    with pytest.raises(ValueError, match="cannot write"):
        write_frames(tmp_path / "x.bmp", frames)
    with pytest.raises(ValueError, match="timestamps"):
        write_frames(tmp_path / "x.gif", frames, timing=FrameTiming.from_fps(3, 10))
    with pytest.raises(FileNotFoundError):
        write_frames(tmp_path / "no_dir" / "x.gif", frames)

    real = frame_writer._uint8_frames

    def failing(f):                                           # fails after two frames were encoded
        for i, x in enumerate(real(f)):
            if i == 2:
                raise OSError("disk full")
            yield x

    monkeypatch.setattr(frame_writer, "_uint8_frames", failing)
    for name in ("fail.gif", "fail.mp4", "fail.webp", "fail.png", "fail_dir"):
        with pytest.raises(OSError, match="disk full"):
            write_frames(tmp_path / name, frames)
    leftovers = {p.name for p in tmp_path.iterdir()}
    assert not any(n.startswith(("fail", "nan", "x.")) for n in leftovers), leftovers


def test_video_seek_matches_decoding_from_the_start(tmp_path, make_clip, monkeypatch):
    """start > 0 seeks to the keyframe before it (GOP 8, B-frames) and must give exactly the
    frames, indices and timestamps of a read from frame 0."""
    av = pytest.importorskip("av")
    from frameweave.vfi_core import frame_reader

    frames = (make_clip(40, size=(32, 48), step=(0.5, 1.0)) * 255).round().to(torch.uint8).numpy()
    path = tmp_path / "gop.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        stream.options = {"g": "8", "bf": "2", "keyint_min": "8", "sc_threshold": "0"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    whole = read_frames(path)
    decoded = []
    real_frames = frame_reader._VideoSource.frames

    def counting(self):
        for fr in real_frames(self):
            decoded.append(fr.index)
            yield fr

    monkeypatch.setattr(frame_reader._VideoSource, "frames", counting)
    for start in (5, 17, 33):
        decoded.clear()
        part = read_frames(path, start=start, step=2, max_frames=3)
        assert part.indices == (start, start + 2, start + 4)
        assert torch.equal(part.frames, whole.frames[start:start + 5:2])
        assert part.timing.timestamps == whole.timing.timestamps[start:start + 5:2]
        assert min(decoded) >= start - 8                              # seeked, not decoded from 0


def test_reads_files_written_by_other_tools(tmp_path, make_clip):
    """APNG and animated WebP from Pillow's own writers, WebM (VP9) from FFmpeg via PyAV."""
    av = pytest.importorskip("av")
    frames = make_clip(4, size=(32, 48), step=(2.0, 3.0))                  # distinct frames
    images = [Image.fromarray(f) for f in (frames * 255).round().to(torch.uint8).numpy()]
    images[0].save(tmp_path / "pil.png", save_all=True, append_images=images[1:], duration=[40, 80, 40, 120])
    images[0].save(tmp_path / "pil.webp", save_all=True, append_images=images[1:], duration=[40, 80, 40, 120],
                   lossless=True)
    for name in ("pil.png", "pil.webp"):
        clip = read_frames(tmp_path / name)
        assert clip.frames.shape == (4, 32, 48, 3), name
        np.testing.assert_allclose(clip.timing.durations(), [0.04, 0.08, 0.04, 0.12], atol=1e-9)
        assert psnr(clip.frames, frames) > 50, name                          # both lossless
        assert probe(tmp_path / name)["duration"] == pytest.approx(0.28)
    with av.open(str(tmp_path / "v.webm"), "w") as container:
        stream = container.add_stream("libvpx-vp9", rate=20)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        stream.options = {"deadline": "realtime", "crf": "20", "b": "0"}
        for im in images:
            for packet in stream.encode(av.VideoFrame.from_image(im)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    clip = read_frames(tmp_path / "v.webm")
    assert clip.frames.shape == (4, 32, 48, 3)
    np.testing.assert_allclose(clip.timing.timestamps, [0.0, 0.05, 0.1, 0.15], atol=1e-3)
    assert psnr(clip.frames, frames) > 25


def test_video_display_matrix_rotation():
    """A phone clip stored landscape with rotation -90 (what FFmpeg reports for an upright iPhone
    video) is turned 90 degrees clockwise, as FFmpeg's own autorotate does."""
    from frameweave.vfi_core.frame_reader import _VideoSource

    stored = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)           # [H=2, W=3, 3]

    class FakeFrame:
        rotation = -90

        def to_ndarray(self, format):
            return stored

    source = _VideoSource.__new__(_VideoSource)
    _VideoSource.__init__(source, Path("phone.mov"))
    upright = source._upright_rgb(FakeFrame())
    assert upright.shape == (3, 2, 3)
    assert np.array_equal(upright[0, :, 0], stored[::-1, 0, 0])               # clockwise: left column up top
    assert any("display matrix" in n for n in source.notes.as_list())


def test_large_gif_frame_palette(tmp_path, make_photo):
    """Frames above 256x256 get their palette from a thumbnail: still a faithful GIF."""
    photo = torch.from_numpy(make_photo("coffee", (130, 130)))[None]            # [1,260,260,3]
    clip = read_frames(write_frames(tmp_path / "big.gif", photo.repeat(2, 1, 1, 1), fps=10))
    assert clip.frames.shape == (2, 260, 260, 3)
    assert psnr(clip.frames, photo.repeat(2, 1, 1, 1)) > 30


# --- GIF timing choices, written-clip reports, streams (issue 16 items 3, 4; issue 13 item 5) ----------
def _sloth_like_timing(frames: int = 8, delay: float = 0.06, multiplier: int = 4) -> FrameTiming:
    """An 8-frame 60 ms GIF interpolated x4: 28 frames of 15 ms and a last one of 60 ms (0.48 s)."""
    return FrameTiming.from_durations([delay] * frames).with_inserted([j / multiplier for j in range(1, multiplier)])


def test_gif_plan_stretch_keeps_every_frame_and_says_how_long():
    timing = _sloth_like_timing()
    plan = gif_plan(timing, "stretch")
    assert plan.indices == list(range(29)) and min(plan.delays_cs) == 2
    assert plan.seconds == pytest.approx(0.58) and "0.48 s are written as 0.58 s" in plan.note
    assert "keep_duration" in plan.note and "webp" in plan.note


def test_gif_plan_keep_duration_keeps_the_duration_with_fewer_frames_chosen_evenly():
    timing = _sloth_like_timing()
    plan = gif_plan(timing, "keep_duration")
    assert plan.seconds == pytest.approx(0.48) and min(plan.delays_cs) >= 2
    assert plan.indices == sorted(set(plan.indices)) and plan.indices[0] == 0 and plan.indices[-1] == 28
    assert len(plan.indices) == 22 and "22 of 29 frames" in plan.note
    # chosen evenly in time: every written frame is the one the clip shows at its slot's middle
    starts = np.cumsum([0] + plan.delays_cs[:-1]) / 100
    for i, start, d in zip(plan.indices, starts, plan.delays_cs):
        assert timing.timestamps[i] - timing.timestamps[0] <= start + 0.01 + 1e-9
        nxt = timing.timestamps[i + 1] if i + 1 < len(timing) else timing.end
        assert nxt > start + 0.01 - 1e-9
    with pytest.raises(ValueError, match="gif_timing"):
        gif_plan(timing, "merge")


def test_gif_plan_needs_no_choice_when_the_frames_fit():
    timing = FrameTiming.from_durations([0.05] * 9)
    for mode in ("stretch", "keep_duration"):
        plan = gif_plan(timing, mode)
        assert plan.indices == list(range(9)) and plan.delays_cs == [5] * 9 and plan.note == ""


@pytest.mark.parametrize("mode, frames, seconds", [("stretch", 29, 0.58), ("keep_duration", 22, 0.48)])
def test_write_clip_reports_what_the_gif_holds(tmp_path, make_clip, mode, frames, seconds):
    clip = make_clip(29, size=(12, 16), step=(0.2, 0.3))
    written = write_clip(tmp_path / "x.gif", clip, timing=_sloth_like_timing(), gif_timing=mode)
    back = read_frames(written.path)
    assert written.frames == back.frames.shape[0] == frames
    assert written.seconds == pytest.approx(seconds) and back.timing.end == pytest.approx(seconds)
    assert len(written.notes) == 1 and (written.width, written.height) == (16, 12)


def test_write_clip_reports_the_padded_size_of_an_odd_mp4(tmp_path, make_clip):
    written = write_clip(tmp_path / "odd.mp4", make_clip(3, size=(23, 31)), fps=10)
    assert (written.width, written.height) == (32, 24)
    assert "23" in written.notes[0] and "32x24" in written.notes[0]
    info = probe(written.path)
    assert (info["width"], info["height"]) == (32, 24)


@pytest.mark.parametrize("name", ["s.gif", "s.mp4", "s.webp", "s.png", "s_dir"])
def test_streamed_frames_are_written_as_they_come(tmp_path, make_clip, monkeypatch, name):
    """A stream is encoded while it is produced: never more than one batch made and not yet encoded."""
    frames = make_clip(7, size=(16, 20))
    made, encoded, ahead = [0], [0], []
    real = frame_writer._uint8_frames

    def counting(f):
        for x in real(f):
            encoded[0] += 1
            yield x

    def produce():
        for s in range(0, 7, 2):
            batch = frames[s:s + 2]
            made[0] += batch.shape[0]
            ahead.append(made[0] - encoded[0])
            yield batch if batch.shape[0] > 1 else batch[0]                 # [b,H,W,3] or [H,W,3]

    monkeypatch.setattr(frame_writer, "_uint8_frames", counting)
    timing = FrameTiming.from_fps(7, 10.0)
    written = write_clip(tmp_path / name, produce(), timing=timing)
    assert max(ahead) <= 2 and made[0] == encoded[0] == 7
    back = read_frames(written.path)
    assert back.frames.shape[0] == 7
    assert psnr(back.frames, frames) > 25


def test_a_stream_of_the_wrong_length_leaves_no_file(tmp_path, make_clip):
    frames = make_clip(4, size=(16, 16))
    with pytest.raises(ValueError, match="ended after 4 frame"):
        write_clip(tmp_path / "short.gif", iter([frames]), timing=FrameTiming.from_fps(5, 10.0))
    with pytest.raises(ValueError, match="more frames than its timing"):
        write_clip(tmp_path / "long.webp", iter([frames, frames]), timing=FrameTiming.from_fps(5, 10.0))
    with pytest.raises(ValueError, match="needs its timing"):
        write_clip(tmp_path / "none.gif", iter([frames]))
    with pytest.raises(ValueError, match="started at 16x16"):
        write_clip(tmp_path / "sizes.mp4", iter([frames, make_clip(1, size=(8, 8))]), timing=FrameTiming.from_fps(5, 10.0))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, codec, rate", [("v.mpg", "mpeg1video", 25), ("v.ogv", "libvpx", 20),
                                               ("v.ts", "mpeg2video", 25)])
def test_reads_mpeg_and_ogg_video(tmp_path, make_clip, name, codec, rate):
    """MPEG-1/2 program and transport streams and Ogg video (Theora is decoded the same way; PyAV's
    wheel has no Theora encoder, so the Ogg file here holds VP8), as Debian's and older cameras' clips come."""
    av = pytest.importorskip("av")
    try:
        av.Codec(codec, "w")
    except Exception:
        pytest.skip(f"this FFmpeg build has no {codec} encoder")
    frames = make_clip(6, size=(32, 48), step=(2.0, 3.0))
    with av.open(str(tmp_path / name), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        stream.options = {"qscale": "2"} if codec != "libvpx" else {"crf": "10", "b": "1M"}
        for f in (frames * 255).round().to(torch.uint8).numpy():
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    clip = read_frames(tmp_path / name)
    assert clip.frames.shape == (6, 32, 48, 3)
    assert psnr(clip.frames, frames) > 22
