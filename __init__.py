"""FrameWeave: neural video frame interpolation nodes for ComfyUI.

ComfyUI imports this file from ``custom_nodes/<folder>/``; pip installs it as the package
``frameweave``. Everything inside uses relative imports so either way works.
"""
from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = "./web"   # front-end extension: text and GIF previews on the nodes, Load Frames upload
__version__ = "0.1.0"
__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
