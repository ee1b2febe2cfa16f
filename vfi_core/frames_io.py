"""Frame I/O with per-frame timing: the public entry points.

``read_frames``/``iter_frames``/``read_chunks``/``probe`` live in ``frame_reader`` (GIF, APNG, animated WebP,
MP4/MOV/MKV/WebM via PyAV, PNG/JPEG folders, still images); ``write_frames`` / ``write_clip`` (which also
takes a stream of frames and says what the file holds) in ``frame_writer`` (GIF, H.264 MP4/MOV/MKV,
animated WebP, APNG, PNG folder). See docs/io.md.
"""
from .frame_reader import DEFAULT_FPS, LoadedClip, iter_frames, natural_key, probe, read_chunks, read_frames
from .frame_writer import (DEFAULT_WRITE_FPS, GIF_TIMINGS, WrittenClip, gif_plan, quantise_durations, resolve_timing,
                           write_clip, write_frames)

__all__ = ["DEFAULT_FPS", "DEFAULT_WRITE_FPS", "GIF_TIMINGS", "LoadedClip", "WrittenClip", "gif_plan", "iter_frames",
           "natural_key", "probe", "quantise_durations", "read_chunks", "read_frames", "resolve_timing",
           "write_clip", "write_frames"]
