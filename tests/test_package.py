"""The package loads as ComfyUI loads it and as pip installs it."""
import importlib
import importlib.util
import runpy
import sys
from pathlib import Path

import frameweave

ROOT = Path(frameweave.__file__).resolve().parent


def test_node_mappings_are_consistent():
    assert frameweave.NODE_CLASS_MAPPINGS, "no nodes registered"
    for key, cls in frameweave.NODE_CLASS_MAPPINGS.items():
        assert key.startswith("FrameWeave"), key
        types = cls.INPUT_TYPES()
        assert "required" in types, key
        assert isinstance(cls.RETURN_TYPES, tuple), key
        assert hasattr(cls, cls.FUNCTION), key
        assert key in frameweave.NODE_DISPLAY_NAME_MAPPINGS, key
        if hasattr(cls, "RETURN_NAMES"):
            assert len(cls.RETURN_NAMES) == len(cls.RETURN_TYPES), key


def test_loads_like_comfyui_custom_node(tmp_path):
    """ComfyUI imports custom_nodes/<folder>/__init__.py under the folder's own name."""
    spec = importlib.util.spec_from_file_location(
        "FrameWeave_custom_node", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        assert set(module.NODE_CLASS_MAPPINGS) == set(frameweave.NODE_CLASS_MAPPINGS)
    finally:
        for name in [n for n in sys.modules if n.startswith(spec.name)]:
            del sys.modules[name]


def test_no_absolute_imports_of_colliding_names():
    """`import nodes` / `import kernels` would hit ComfyUI's or PyPI's modules."""
    bad = []
    for path in ROOT.rglob("*.py"):
        if any(part.startswith(".") for part in path.relative_to(ROOT).parts) or "tests" in path.parts:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            s = line.strip()
            if s.startswith(("import nodes", "import kernels", "from nodes", "from kernels",
                             "import vfi_core", "from vfi_core")):
                bad.append(f"{path.relative_to(ROOT)}:{n}: {s}")
    assert not bad, bad


def test_grad_mode_untouched_by_import():
    import torch
    assert torch.is_grad_enabled()


def test_every_node_module_imports():
    from frameweave.nodes import NODE_IMPORT_ERRORS
    assert not NODE_IMPORT_ERRORS, NODE_IMPORT_ERRORS


def test_front_end_extension_is_served_and_parses():
    """ComfyUI serves WEB_DIRECTORY's .js files as front-end extensions (issue 13: text on the
    nodes, GIF previews, Load Frames upload); a syntax error would break all of them."""
    import shutil
    import subprocess

    import pytest

    web = (ROOT / frameweave.WEB_DIRECTORY).resolve()
    scripts = sorted(web.glob("*.js"))
    assert scripts, f"no .js in {web}"
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: JavaScript syntax not checked")
    for script in scripts:
        result = subprocess.run([node, "--check", str(script)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{script.name}: {result.stderr}"


def test_checkout_folder_with_any_name_runs_the_tests(tmp_path):
    """pytest imports a checkout's root __init__.py without a parent package when the folder's name
    is not an identifier (a clone into ``frameweave-main``): that import must not fail."""
    lone = runpy.run_path(str(ROOT / "__init__.py"), run_name="frameweave_main_lone")   # __package__ ''
    assert lone["NODE_CLASS_MAPPINGS"] == {} and lone["WEB_DIRECTORY"] == "./web"
    assert frameweave.NODE_CLASS_MAPPINGS            # as a package it still registers every node
