"""ComfyUI node wrappers.

Every module in this package that defines ``NODE_CLASS_MAPPINGS`` (and optionally
``NODE_DISPLAY_NAME_MAPPINGS``) is collected here, so adding a node is adding a module.
Modules whose name starts with ``_`` are helpers, not node modules.
"""
import importlib
import logging
import pkgutil

NODE_CLASS_MAPPINGS = {}
NODE_DISPLAY_NAME_MAPPINGS = {}
NODE_IMPORT_ERRORS = {}  # module name -> error text; one broken module must not hide the others

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("_"):
        continue
    try:
        _module = importlib.import_module(f".{_info.name}", __name__)
    except Exception as _exc:  # noqa: BLE001  (reported, and the test suite fails on it)
        NODE_IMPORT_ERRORS[_info.name] = f"{type(_exc).__name__}: {_exc}"
        logging.getLogger("frameweave").error("FrameWeave: could not load nodes/%s.py: %s", _info.name, _exc)
        continue
    for _key, _cls in getattr(_module, "NODE_CLASS_MAPPINGS", {}).items():
        if _key in NODE_CLASS_MAPPINGS:
            raise RuntimeError(f"FrameWeave node id {_key!r} is defined twice ({_info.name})")
        NODE_CLASS_MAPPINGS[_key] = _cls
    NODE_DISPLAY_NAME_MAPPINGS.update(getattr(_module, "NODE_DISPLAY_NAME_MAPPINGS", {}))
