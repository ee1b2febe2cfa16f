"""FrameWeave: neural video frame interpolation nodes for ComfyUI.

ComfyUI imports this file from ``custom_nodes/<folder>/``; pip installs it as the package
``frameweave``. Everything inside uses relative imports so either way works.

Imported as a lone module instead (no parent package: pytest imports a checkout's root
``__init__.py`` this way when the folder's name is not a Python identifier, e.g. ``frameweave-main``),
it defines no nodes rather than failing on the relative import.
"""
if __package__:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
else:
    NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = {}, {}

WEB_DIRECTORY = "./web"   # front-end extension: text and GIF previews on the nodes, Load Frames upload
__version__ = "0.1.0"
__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
