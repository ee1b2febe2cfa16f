"""FrameWeave's command line: ``python -m frameweave <command>`` (or the ``frameweave`` script).

Commands:
  run WORKFLOW.json     run a ComfyUI API-format workflow headless (nodes._headless)
  interpolate IN -o OUT interpolate a clip file with one method (vfi_core.methods)
  train ...             train SepConv / SepConv-GAN / flow-guided weights (vfi_core.train_cli)
  nodes                 list the nodes with their inputs and outputs (--markdown: a table)

Exit codes: 0 success, 2 the command or workflow is wrong (clean message, nothing ran),
1 the work failed while running. Heavy modules are imported only by the command that needs them.
"""
import argparse
import contextlib
import json
import logging
import os
import signal
import shutil
import sys
import time
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """The command line is wrong: reported without a traceback, exit code 2."""


def _err(message: str) -> None:
    print(f"frameweave: error: {message}", file=sys.stderr)


def _note(message: str, quiet: bool = False) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _version() -> str:
    from . import __version__  # noqa: PLC0415
    return __version__


# --- value parsing -------------------------------------------------------------------------
def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"expected true or false, got {text!r}")


def parse_value(text: str, type_spec=None):
    """A command-line value converted for an input of ``type_spec`` (INT, FLOAT, STRING, BOOLEAN,
    a combo list, or None when unknown: JSON if it parses, else the text)."""
    if type_spec == "STRING":
        return text
    if type_spec == "BOOLEAN":
        return _parse_bool(text)
    if type_spec == "INT":
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"expected an integer, got {text!r}") from None
    if type_spec == "FLOAT":
        try:
            return float(text)
        except ValueError:
            raise UsageError(f"expected a number, got {text!r}") from None
    if isinstance(type_spec, (list, tuple)):
        if text in type_spec:
            return text
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return text
        return value if value in type_spec else text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _split_assignment(text: str, what: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{what} {text!r} must look like KEY=VALUE")
    return key.strip(), value


def apply_overrides(workflow: dict, assignments, node_classes) -> dict:
    """Apply ``--set ID.INPUT=VALUE`` to a copy of the workflow; values are converted by the
    input's declared type (STRING stays text; INT/FLOAT/BOOLEAN parsed; else JSON)."""
    from .nodes._headless import _input_spec  # noqa: PLC0415

    workflow = json.loads(json.dumps(workflow))  # deep copy of plain JSON data
    for text in assignments or ():
        key, raw = _split_assignment(text, "--set")
        node_id, dot, name = key.partition(".")
        if not dot or not name:
            raise UsageError(f"--set {text!r}: write NODE_ID.INPUT=VALUE, e.g. --set 2.multiplier=8")
        if node_id not in workflow:
            raise UsageError(f"--set {text!r}: there is no node {node_id!r} in the workflow "
                             f"(node ids: {', '.join(workflow)})")
        node = workflow[node_id]
        type_spec = None
        cls = node_classes.get(node.get("class_type")) if isinstance(node, dict) else None
        if cls is not None:
            required, optional, _ = _input_spec(cls)
            declared = {**required, **optional}
            if name not in declared:
                raise UsageError(f"--set {text!r}: node {node_id} ({node['class_type']}) has no input "
                                 f"{name!r}; its inputs: {', '.join(declared)}")
            type_spec = declared[name][0]
        try:
            value = parse_value(raw, type_spec)
        except UsageError as exc:
            raise UsageError(f"--set {text!r}: {exc}") from None
        node.setdefault("inputs", {})[name] = value
    return workflow


# --- describing values -----------------------------------------------------------------------
def describe(value) -> str:
    """One short line (or an indented block for multi-line text) describing a node output."""
    try:
        import torch  # noqa: PLC0415
        if isinstance(value, torch.Tensor):
            shape = "x".join(str(s) for s in value.shape)
            return f"tensor [{shape}] {str(value.dtype).replace('torch.', '')}"
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, (int, str)):
        text = str(value)
        return text if "\n" not in text else "\n" + "\n".join("      " + ln for ln in text.splitlines())
    if hasattr(value, "timestamps") and hasattr(value, "end"):
        n = len(value.timestamps)
        return f"timing: {n} frame(s), {value.end - value.timestamps[0]:.3f} s"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(describe(v) for v in value[:8]) + (", ..." if len(value) > 8 else "") + "]"
    return type(value).__name__


def _jsonable(value):
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return describe(value)


def _ui_lines(ui: dict, output_dir: Path, shown=()) -> list:
    """Readable lines for a node's ui dict: files as paths under the output folder, other values
    described; flags (e.g. "animated") and files already printed as outputs are left out."""
    lines = []
    shown = {str(Path(s).resolve()) for s in shown if isinstance(s, str)}
    for key, items in ui.items():
        items = list(items) if isinstance(items, (list, tuple)) else [items]
        if all(isinstance(i, bool) for i in items):
            continue
        for item in items:
            if isinstance(item, dict) and "filename" in item:
                base = output_dir if item.get("type", "output") == "output" else Path(item.get("type", ""))
                path = base / item.get("subfolder", "") / item["filename"]
                if str(path.resolve()) not in shown:
                    lines.append(f"{key}: {path}")
            else:
                lines.append(f"{key}: {describe(item)}")
    return lines


# --- run ---------------------------------------------------------------------------------------
def _node_title(workflow, node_id, display_names) -> str:
    node = workflow[node_id]
    meta = node.get("_meta") or {}
    return meta.get("title") or display_names.get(node["class_type"], node["class_type"])


class _RunReporter:
    """stderr lines for ``run``: one per node (``[2/3] Flow Warp (node 2) ... 1.25 s``), with the
    node's own progress bar (``nodes._comfy.Progress``) drawn on that line while it runs."""

    def __init__(self, workflow, display_names, enabled=True, stream=None):
        self.workflow, self.display_names, self.enabled = workflow, display_names, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.label, self.started, self.bar = "", None, None

    def __call__(self, done, total, node_id, class_type):   # run_workflow's progress callback
        if not self.enabled:
            return
        if self.started is None:
            self.label = f"[{done + 1}/{total}] {_node_title(self.workflow, node_id, self.display_names)} (node {node_id})"
            self.started, self.bar = time.perf_counter(), None
            self.stream.write((self.label[:shutil.get_terminal_size((80, 24)).columns - 5] + " ...")
                              if self.tty else self.label + "\n")
        else:
            self.finish(f"{time.perf_counter() - self.started:.2f} s")
        self.stream.flush()

    def finish(self, text: str) -> None:
        if not self.enabled or self.started is None:
            return
        if self.tty:
            columns = shutil.get_terminal_size((80, 24)).columns - 1
            line = f"{self.label}  {text}"
            if len(line) > columns:
                line = f"{self.label[:max(columns - len(text) - 5, 0)]}...  {text}"
            pad = " " * max(min((self.bar._line_len if self.bar else 0), columns) - len(line), 0)
            self.stream.write(f"\r{line}{pad}\n")
        else:
            self.stream.write(f"    {text}\n")
        self.stream.flush()
        self.started = None

    def make_bar(self, total):
        from .vfi_core.console import ProgressBar  # noqa: PLC0415
        self.bar = ProgressBar(self.label if self.tty else "  ", stream=self.stream,
                               enabled=self.enabled and self.started is not None)
        self.bar.total = total
        return self.bar


@contextlib.contextmanager
def _node_progress_bars(reporter):
    """While a workflow runs from the command line, nodes' ``_comfy.Progress`` (which shows
    ComfyUI's bar inside ComfyUI, nothing outside) also draws the CLI bar."""
    from .nodes import _comfy  # noqa: PLC0415

    base = _comfy.Progress

    class CliProgress(base):
        checks_cancel = False     # Ctrl-C interrupts by itself: no need to split steps for Cancel checks

        def __init__(self, total: int):
            super().__init__(total)
            self._cli_bar = reporter.make_bar(total)

        def __call__(self, done: int, total: int | None = None) -> None:
            super().__call__(done, total)
            self._cli_bar(done, total if total is not None else self.total)

    _comfy.Progress = CliProgress
    try:
        yield
    finally:
        _comfy.Progress = base


def _check_output_dir(folder: Path) -> None:
    """UsageError unless ``folder`` is a writable folder or could be created as one."""
    if folder.exists():
        if not folder.is_dir():
            raise UsageError(f"--output-dir {folder}: exists and is not a folder")
        existing = folder
    else:
        existing = next((p for p in folder.absolute().parents if p.exists()), None)
        if existing is None or not existing.is_dir():
            raise UsageError(f"--output-dir {folder}: cannot be created ({existing} is not a folder)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--output-dir {folder}: {existing} is not writable")


def cmd_run(args) -> int:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS  # noqa: PLC0415
    from .nodes._headless import (NodeExecutionError, WorkflowValidationError,  # noqa: PLC0415
                                  is_ui_format, load_workflow, run_workflow, to_api_format,
                                  validate_workflow)

    try:
        workflow = load_workflow(args.workflow)
        if is_ui_format(json.loads(Path(args.workflow).read_text(encoding="utf-8"))):
            _note(f"note: {args.workflow} is in ComfyUI's UI format (Save); converted it to the API format "
                  "(Workflow > Export (API) gives that directly)", args.quiet)
        workflow = apply_overrides(workflow, args.set, NODE_CLASS_MAPPINGS)
    except (FileNotFoundError, ValueError, UsageError) as exc:
        _err(str(exc))
        return EXIT_USAGE

    output_dir = Path(args.output_dir).expanduser() if args.output_dir else None
    if output_dir is not None:
        try:
            _check_output_dir(output_dir)
        except UsageError as exc:
            _err(str(exc))
            return EXIT_USAGE
    try:                             # a rejected workflow leaves nothing behind, not even the folder
        validate_workflow(to_api_format(workflow, NODE_CLASS_MAPPINGS), NODE_CLASS_MAPPINGS)
    except WorkflowValidationError as exc:
        _err(f"{args.workflow}: {exc}")
        return EXIT_USAGE
    saved_env = os.environ.get("FRAMEWEAVE_OUTPUT_DIR")
    if output_dir is not None:
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _err(f"--output-dir {output_dir}: cannot be created ({exc.strerror or exc})")
            return EXIT_USAGE
        os.environ["FRAMEWEAVE_OUTPUT_DIR"] = str(output_dir)
    reporter = _RunReporter(workflow, NODE_DISPLAY_NAME_MAPPINGS, enabled=not args.quiet)

    t0 = time.perf_counter()
    try:
        with _node_progress_bars(reporter):
            results = run_workflow(workflow, NODE_CLASS_MAPPINGS, progress=reporter)
    except WorkflowValidationError as exc:
        _err(f"{args.workflow}: {exc}")
        return EXIT_USAGE
    except NodeExecutionError as exc:
        reporter.finish("failed")
        if args.traceback:
            import traceback  # noqa: PLC0415
            traceback.print_exception(exc.original)
        _err(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        reporter.finish("interrupted")
        _err("interrupted")
        return 130
    finally:
        if output_dir is not None:
            if saved_env is None:
                os.environ.pop("FRAMEWEAVE_OUTPUT_DIR", None)
            else:
                os.environ["FRAMEWEAVE_OUTPUT_DIR"] = saved_env

    from .nodes._comfy import output_directory  # noqa: PLC0415
    out_dir = output_dir if output_dir is not None else output_directory()
    shown = _result_nodes(workflow, results, NODE_CLASS_MAPPINGS)
    # nodes that are not outputs but report in words (a fit's quality): shown as well
    shown += [i for i in results if i not in shown and (getattr(results[i], "ui", None) or {}).get("text")]
    if args.json:
        report = {}
        for node_id in shown:
            res = results[node_id]
            names = getattr(NODE_CLASS_MAPPINGS[res.class_type], "RETURN_NAMES", None) or \
                NODE_CLASS_MAPPINGS[res.class_type].RETURN_TYPES
            report[node_id] = {"class_type": res.class_type, "seconds": round(res.seconds, 3),
                               "outputs": {n: _jsonable(v) for n, v in zip(names, res.outputs)},
                               "ui": _jsonable(res.ui)}
        print(json.dumps(report, indent=2))
        return EXIT_OK
    _note(f"ran {len(results)} node(s) in {time.perf_counter() - t0:.2f} s", args.quiet)
    for node_id in shown:
        res = results[node_id]
        cls = NODE_CLASS_MAPPINGS[res.class_type]
        print(f"{_node_title(workflow, node_id, NODE_DISPLAY_NAME_MAPPINGS)} (node {node_id}, {res.class_type}):")
        names = getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES
        for name, value in zip(names, res.outputs):
            print(f"    {name}: {describe(value)}")
        for line in _ui_lines(res.ui, out_dir, shown=res.outputs):
            print(f"    {line}")
    return EXIT_OK


def _result_nodes(workflow, results, node_classes) -> list:
    """The output nodes that ran; when the workflow has none, the nodes nothing else reads."""
    from .nodes._headless import _sort_key, output_node_ids  # noqa: PLC0415

    outs = [i for i in output_node_ids(workflow, node_classes) if i in results]
    if outs:
        return outs
    linked = {str(v[0]) for n in workflow.values() for v in (n.get("inputs") or {}).values()
              if isinstance(v, list) and v}
    return sorted((i for i in results if i not in linked), key=_sort_key)


# --- interpolate -------------------------------------------------------------------------------
def _method_options(func, options: dict, fractions) -> dict:
    """``options`` checked against what the method takes, and its cheap checks run (times the
    method cannot make, unknown weights, an unavailable device) before any frame is read."""
    from .vfi_core.methods import method_options, precheck  # noqa: PLC0415

    allowed = method_options(func)
    for key in options:
        if key not in allowed:
            raise UsageError(f"--option {key}: this method has no such option; "
                             f"its options: {', '.join(allowed) or 'none'}")
    try:
        precheck(func, fractions, options)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return options


def _list_methods() -> int:
    import importlib.util  # noqa: PLC0415

    from .vfi_core.methods import METHODS  # noqa: PLC0415

    width = max(len(n) for n in METHODS)
    for name, (module, _func, text) in METHODS.items():
        present = importlib.util.find_spec(module, f"{__package__}.vfi_core") is not None
        print(f"{name:<{width}}  {text}{'' if present else '  (not in this install)'}")
    return EXIT_OK


def _check_output_target(dst: Path, overwrite: bool = False) -> None:
    """Fail before any work if the output cannot be written (unknown extension, missing folder) or
    would replace an existing file without ``--overwrite``."""
    from .vfi_core.frame_writer import WRITE_EXTS  # noqa: PLC0415

    text = str(dst)
    folder = text.endswith(("/", os.sep)) or dst.is_dir() or dst.suffix == ""
    if not folder and dst.suffix.lower() not in WRITE_EXTS:
        raise UsageError(f"cannot write {dst.suffix!r} files; use one of {', '.join(sorted(WRITE_EXTS))} "
                         "or a folder path (no extension) for numbered PNGs")
    if folder and dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise UsageError(f"{dst} already exists and is not an empty folder")
    if not folder and dst.exists() and not overwrite:
        raise UsageError(f"{dst} already exists; pass --overwrite to replace it (or choose another -o)")
    parent = Path(text.rstrip("/" + os.sep)).expanduser().parent
    if not parent.is_dir():
        raise UsageError(f"output folder {parent} does not exist")


MAX_MULTIPLIER = 16           # as the nodes' multiplier widgets: 16x is 15 new frames per interval
PAIRWISE_METHODS = ("linear", "flow", "sepconv", "sepconv-gan", "flowguided")   # every pair independent of the others
SEGMENT_BYTES = 256 << 20     # pairwise methods run on segments of the clip whose output is about this big


class _MethodFailed(Exception):
    """An exception of the method while the output was being written (``original`` is it)."""

    def __init__(self, original: BaseException):
        super().__init__(str(original))
        self.original = original


def _tag_method_errors(stream):
    """Re-raise the method's own exceptions (not the writer's) as ``_MethodFailed``."""
    try:
        yield from stream
    except Exception as exc:  # noqa: BLE001
        raise _MethodFailed(exc) from exc


def _pairwise_stream(func, frames, fractions, timing, progress, options: dict):
    """The clip through a method whose pairs are independent, a segment of pairs at a time (each
    segment's output about SEGMENT_BYTES): the frames are yielded as they are made, so only one
    segment's output is held. ``progress`` runs once over all segments, out of 1000."""
    n_pairs, m = frames.shape[0] - 1, len(fractions)
    frame_bytes = frames[0].numel() * frames.element_size()
    per_segment = max(1, min(n_pairs, SEGMENT_BYTES // max((m + 1) * frame_bytes, 1)))
    for s in range(0, n_pairs, per_segment):
        e = min(s + per_segment, n_pairs)

        def seg_progress(done, total, s=s, e=e):
            progress(int(1000 * (s + (e - s) * done / max(total, 1)) / n_pairs), 1000)

        out = func(frames[s:e + 1], fractions, timing=timing.subset(range(s, e + 1)),
                   progress=seg_progress if progress is not None else None, **options)
        expected = (e - s) * (m + 1) + 1
        if out.shape[0] != expected:
            raise RuntimeError(f"returned {out.shape[0]} frames for {e - s} pair(s), expected {expected}")
        yield out if s == 0 else out[1:]


def _method_stream(name: str, func, frames, fractions, timing, progress, options: dict, notify, report: dict):
    """The interpolated clip as a stream of frame batches, in order (never held whole where the
    method allows it): a clip method's own stream (``func.iterate``), pairwise methods segment by
    segment, any other method in one call."""
    iterate = getattr(func, "iterate", None)
    if iterate is not None:
        return _deferred(lambda: iterate(frames, fractions, timing=timing, progress=progress, notify=notify,
                                         report=report, **options))
    if name in PAIRWISE_METHODS or getattr(func, "pairwise", False):
        return _pairwise_stream(func, frames, fractions, timing, progress, options)
    return _deferred(lambda: [func(frames, fractions, timing=timing, progress=progress, **options)])


def _deferred(make):
    """The frames of ``make()``, called when the writer asks for the first one: what the method
    raises while it sets up (a budget, weights) is then reported as the method's failure."""
    yield from make()


def _written_summary(dst: Path, written, timing) -> list:
    """Lines describing the file as read back (frames, size, duration), and what differs from the
    clip's own timing, with the format's notes."""
    from .vfi_core.frame_reader import probe  # noqa: PLC0415

    try:
        info = probe(dst)
    except Exception:  # noqa: BLE001  (the writer's own account, when the file cannot be probed)
        info = {}
    count = info.get("frame_count") or written.frames
    width, height = info.get("width") or written.width, info.get("height") or written.height
    seconds = info.get("duration") or written.seconds
    lines = [f"wrote {written.path}: {count} frames {width}x{height}, {seconds:.3f} s "
             f"({count / max(seconds, 1e-9):.2f} fps average)"]
    intended = timing.end - timing.timestamps[0]
    if abs(seconds - intended) > 0.015 or count != len(timing):
        lines.append(f"note: the interpolated clip has {len(timing)} frames over {intended:.3f} s; the file holds "
                     f"{count} frames over {seconds:.3f} s")
    lines += [f"note: {note}" for note in written.notes]
    return lines


def cmd_interpolate(args) -> int:
    if args.list_methods:
        return _list_methods()
    if args.input is None or args.output is None:
        raise UsageError("interpolate needs an input clip and -o OUTPUT (or --list-methods)")
    src, dst = Path(args.input), Path(args.output)
    if not src.exists():
        raise UsageError(f"input not found: {src}")
    if dst.resolve() == src.resolve():
        raise UsageError("the output must not overwrite the input; choose another -o path")
    _check_output_target(dst, overwrite=args.overwrite)
    problems = [text for bad, text in (
        (args.start < 0, f"--start must be >= 0, got {args.start}"),
        (args.step < 1, f"--step must be >= 1, got {args.step}"),
        (args.stop is not None and args.stop <= args.start, f"--stop ({args.stop}) must be after --start ({args.start})"),
        (args.max_frames is not None and args.max_frames < 2, f"--max-frames must be >= 2, got {args.max_frames}"),
        (args.fps is not None and not args.fps > 0, f"--fps must be positive, got {args.fps}")) if bad]
    if problems:
        raise UsageError("; ".join(problems))

    from .vfi_core import frame_writer, frames_io  # noqa: PLC0415
    from .vfi_core.console import ProgressBar, format_seconds  # noqa: PLC0415
    from .vfi_core.methods import get_method  # noqa: PLC0415
    from .vfi_core.timing import multiplier_fractions, parse_times  # noqa: PLC0415

    try:
        if args.times is not None:
            fractions = parse_times(args.times)
            if len(fractions) > MAX_MULTIPLIER - 1:
                raise ValueError(f"--times: at most {MAX_MULTIPLIER - 1} times per interval, got {len(fractions)}")
        else:
            multiplier = 2 if args.multiplier is None else args.multiplier
            if multiplier < 2:
                raise ValueError(f"--multiplier must be at least 2, got {multiplier}")
            if multiplier > MAX_MULTIPLIER:
                raise ValueError(f"--multiplier must be at most {MAX_MULTIPLIER} (as the nodes), got {multiplier}; "
                                 "for more, interpolate the result again")
            fractions = multiplier_fractions(multiplier)
        method = get_method(args.method)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    options = {}
    for text in args.option or ():
        key, raw = _split_assignment(text, "--option")
        options[key] = parse_value(raw)
    options = _method_options(method, options, fractions)

    t0 = time.perf_counter()
    try:
        clip = frames_io.read_frames(src, start=args.start, stop=args.stop, step=args.step,
                                     max_frames=args.max_frames, fps=args.fps)
    except KeyboardInterrupt:
        _err("interrupted while reading; nothing was written")
        return 130
    except Exception as exc:  # noqa: BLE001  (reader errors name the file and the problem)
        kind = "" if isinstance(exc, (FileNotFoundError, ValueError)) else f"{type(exc).__name__}: "
        _err(f"could not read {src}: {kind}{exc}")
        return EXIT_FAILED
    for note in clip.notes or ():
        _note(f"note: {note}", args.quiet)
    frames, timing = clip.frames, clip.timing
    n, h, w = frames.shape[0], frames.shape[1], frames.shape[2]
    _note(f"read {n} frame(s) {w}x{h}, {timing.end - timing.timestamps[0]:.3f} s, from {src} in "
          f"{time.perf_counter() - t0:.2f} s", args.quiet)
    if n < 2:
        _err(f"{src}: need at least 2 frames to interpolate, got {n} "
             "(check --start/--stop/--step/--max-frames)")
        return EXIT_FAILED

    out_timing = timing.with_inserted(fractions)
    total = len(out_timing)
    _note(f"will write {total} frames ({n - 1} intervals x {len(fractions) + 1} + 1) over "
          f"{out_timing.end - out_timing.timestamps[0]:.3f} s, streamed to the file as they are made", args.quiet)
    label = f"{args.method} x{len(fractions) + 1}" if args.times is None else f"{args.method} t={args.times}"
    report = {}
    t1 = time.perf_counter()
    quiet_log = frame_writer.log.level
    frame_writer.log.setLevel(logging.ERROR)   # the format's notes are printed in the summary below
    try:
        with ProgressBar(label, enabled=not args.quiet) as bar:
            stream = _method_stream(args.method, method, frames, fractions, timing, bar, options,
                                    lambda text: bar.note(f"note: {text}"), report)
            written = frame_writer.write_clip(dst, _tag_method_errors(stream), timing=out_timing,
                                              gif_timing=args.gif_timing)
    except KeyboardInterrupt:
        _err("interrupted; nothing was written" + (f" (the existing {dst} is unchanged)" if dst.exists() else ""))
        return 130
    except Exception as exc:  # noqa: BLE001  (reported with its type; --traceback shows more)
        failed = exc.original if isinstance(exc, _MethodFailed) else exc
        if args.traceback:
            import traceback  # noqa: PLC0415
            traceback.print_exception(failed)
        if isinstance(exc, _MethodFailed) or not isinstance(exc, (OSError, ValueError)):
            _err(f"{args.method} failed: {type(failed).__name__}: {failed}; nothing was written")
        else:
            _err(f"could not write {dst}: {type(failed).__name__}: {failed}")
        return EXIT_FAILED
    finally:
        frame_writer.log.setLevel(quiet_log)
    seconds = time.perf_counter() - t1
    try:                                        # the output is complete: an interrupt now changes nothing
        _note(f"interpolated {n} -> {total} frames with {args.method} and wrote them in {format_seconds(seconds)} "
              f"({(total - n) / max(seconds, 1e-9):.1f} new frames/s)", args.quiet)
        if report.get("verdict"):
            print(f"{args.method} fit: {report['verdict']}")
        for line in _written_summary(dst, written, out_timing):
            print(line)
    except KeyboardInterrupt:
        _err(f"interrupted after {dst} was written completely")
    return EXIT_OK


# --- train ---------------------------------------------------------------------------------------
def cmd_train(argv) -> int:
    import importlib  # noqa: PLC0415

    try:
        train_cli = importlib.import_module(".vfi_core.train_cli", __package__)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.endswith("train_cli"):
            _err("training is not available in this install (vfi_core/train_cli.py is missing)")
        else:
            _err(f"training needs the module {exc.name!r}, which is not installed: {exc}")
        return EXIT_USAGE
    ret = train_cli.main(list(argv))
    return int(ret or 0)


# --- nodes ----------------------------------------------------------------------------------------
def _describe_input(name, type_spec, extra, optional: bool, markdown: bool) -> str:
    from .nodes._headless import _combo_options, _type_name  # noqa: PLC0415

    options = _combo_options(type_spec, extra)
    code = (lambda s: f"`{s}`") if markdown else (lambda s: s)
    text = f"{code(name)} {_type_name(type_spec)}"
    details = []
    if options is not None:
        details.append("|".join(str(o) for o in options[:12]) + ("|..." if len(options) > 12 else ""))
    if "default" in extra and options is None:
        default = extra["default"]
        if isinstance(default, str) and ("\n" in default or len(default) > 40):
            default = default.splitlines()[0][:40] + "..." if default else ""
        details.append(f"= {default!r}" if isinstance(default, str) else f"= {default}")
    if "min" in extra or "max" in extra:
        def num(v):
            return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)
        details.append(f"{num(extra.get('min', ''))}..{num(extra.get('max', ''))}")
    if optional:
        details.append("optional")
    if details:
        text += " (" + ", ".join(details) + ")"
    return text.replace("|", "\\|") if markdown else text


def _node_summary(cls) -> str:
    text = getattr(cls, "DESCRIPTION", None) or (cls.__doc__ or "")
    return " ".join(text.strip().split("\n\n")[0].split())


def cmd_nodes(args) -> int:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_IMPORT_ERRORS  # noqa: PLC0415
    from .nodes._headless import _input_spec, _type_name  # noqa: PLC0415

    for module, error in sorted(NODE_IMPORT_ERRORS.items()):
        _err(f"nodes/{module}.py did not load: {error}")
    rows = []
    for key in sorted(NODE_CLASS_MAPPINGS, key=lambda k: (getattr(NODE_CLASS_MAPPINGS[k], "CATEGORY", ""), k)):
        cls = NODE_CLASS_MAPPINGS[key]
        required, optional, _ = _input_spec(cls)
        inputs = [_describe_input(n, t, e, False, args.markdown) for n, (t, e) in required.items()]
        inputs += [_describe_input(n, t, e, True, args.markdown) for n, (t, e) in optional.items()]
        names = getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES
        code = (lambda s: f"`{s}`") if args.markdown else (lambda s: s)
        outputs = [f"{code(n)} {_type_name(t)}" for n, t in zip(names, cls.RETURN_TYPES)]
        rows.append((NODE_DISPLAY_NAME_MAPPINGS.get(key, key), key, getattr(cls, "CATEGORY", ""),
                     inputs, outputs, _node_summary(cls)))
    if args.markdown:
        print("| Node | Id | Category | Inputs | Outputs | What it does |")
        print("|---|---|---|---|---|---|")
        for title, key, cat, inputs, outputs, summary in rows:
            print(f"| **{title}** | `{key}` | {cat} | {'<br>'.join(inputs) or '-'} | "
                  f"{'<br>'.join(outputs) or '-'} | {summary.replace('|', chr(92) + '|')} |")
        return EXIT_OK
    for title, key, cat, inputs, outputs, summary in rows:
        print(f"{key}  \"{title}\"  [{cat}]")
        if summary:
            print(f"    {summary}")
        print("    inputs:  " + ("\n             ".join(inputs) if inputs else "-"))
        print("    outputs: " + (", ".join(outputs) if outputs else "-"))
    return EXIT_OK


# --- parser -------------------------------------------------------------------------------------
def _add_output_flags(command: argparse.ArgumentParser, quiet_help: str, traceback_help: str) -> None:
    """The -q/--quiet and --traceback switches of the commands that run something (``args.quiet``
    silences progress and notes; ``args.traceback`` shows the full traceback on failure)."""
    command.add_argument("-q", "--quiet", action="store_true", help=quiet_help)
    command.add_argument("--traceback", action="store_true", help=traceback_help)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="frameweave",
        description="FrameWeave: neural video frame interpolation (NeCo, SIREN-OF, SepConv, SepConv-GAN, "
                    "flow-guided, baselines) from the command line, and headless runs of ComfyUI workflows.",
        epilog="Exit codes: 0 ok, 1 failed while running, 2 bad command line or invalid workflow.")
    parser.add_argument("--version", action="version", version=f"frameweave {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a ComfyUI API-format workflow (Export (API)) without ComfyUI",
                         description="Run a workflow exported with ComfyUI's Export (API), using "
                                     "FrameWeave's nodes, without ComfyUI.")
    run.add_argument("workflow", help="API-format workflow JSON, e.g. example_workflows/quickstart.json")
    run.add_argument("--output-dir", metavar="DIR",
                     help="where Save Frames writes (default: $FRAMEWEAVE_OUTPUT_DIR or ./output)")
    run.add_argument("--set", action="append", metavar="ID.INPUT=VALUE",
                     help="override a node input, e.g. --set 1.path=clip.mp4 --set 2.multiplier=8 (repeatable)")
    run.add_argument("--json", action="store_true", help="print the output nodes' results as JSON")
    _add_output_flags(run, "no progress lines on stderr", "show the full traceback when a node fails")
    run.set_defaults(func=cmd_run)

    itp = sub.add_parser("interpolate", help="interpolate a clip file with one method",
                         description="Read a clip (GIF, APNG, WebP, MP4/WebM/MOV, PNG/JPEG folder), "
                                     "insert frames between every pair, write the result; frame "
                                     "timing is preserved (each interval split evenly).")
    itp.add_argument("input", nargs="?", help="input clip (file or folder of images)")
    itp.add_argument("-o", "--output", help="output file (.gif .mp4 .webp .png ...) or folder")
    itp.add_argument("--method", default="flow", metavar="NAME",
                     help="linear, flow, neco, siren-of, sepconv, sepconv-gan, flowguided (default: flow); see --list-methods")
    rate = itp.add_mutually_exclusive_group()
    rate.add_argument("--multiplier", type=int, default=None, metavar="M",
                      help=f"frame-rate multiplier 2..{MAX_MULTIPLIER}: insert frames at t = j/M (default 2)")
    rate.add_argument("--times", metavar="T1,T2,...", help="explicit in-between times in (0,1), e.g. 0.25,0.5")
    itp.add_argument("--start", type=int, default=0, help="first input frame to read (default 0)")
    itp.add_argument("--stop", type=int, default=None, help="stop before this input frame")
    itp.add_argument("--step", type=int, default=1, help="read every STEP-th frame (default 1)")
    itp.add_argument("--max-frames", type=int, default=None, help="read at most this many frames")
    itp.add_argument("--fps", type=float, default=None,
                     help="frame rate for an image folder or still images (videos/GIFs carry their own timing)")
    itp.add_argument("--option", action="append", metavar="KEY=VALUE",
                     help="method option, e.g. --option steps=500 (repeatable; values parsed as JSON)")
    itp.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists (default: refuse)")
    itp.add_argument("--gif-timing", choices=("stretch", "keep_duration"), default="stretch",
                     help="a GIF cannot show frames shorter than 20 ms: stretch = keep every frame, the clip "
                          "plays longer (default); keep_duration = keep the duration, write fewer frames "
                          "chosen evenly. WebP, APNG and MP4 keep both")
    itp.add_argument("--list-methods", action="store_true", help="list the methods and exit")
    _add_output_flags(itp, "no progress bar or notes on stderr", "show the full traceback on failure")
    itp.set_defaults(func=cmd_interpolate)

    sub.add_parser("train", add_help=False,
                   help="train SepConv / SepConv-GAN / flow-guided weights (arguments go to vfi_core.train_cli; "
                        "`frameweave train --help`)")

    nds = sub.add_parser("nodes", help="list the nodes with their inputs and outputs",
                         description="List FrameWeave's ComfyUI nodes with their inputs and outputs.")
    nds.add_argument("--markdown", action="store_true", help="print a markdown table")
    nds.set_defaults(func=cmd_nodes)
    return parser


def main(argv=None) -> int:
    """Entry point of ``python -m frameweave`` and the ``frameweave`` script; returns the exit code."""
    program = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "train":
        return cmd_train(argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or a usage error (2)
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except UsageError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    finally:
        if program:       # the work is over: Ctrl-C during interpreter shutdown (torch's exit hooks)
            signal.signal(signal.SIGINT, signal.SIG_IGN)     # would only print a traceback
