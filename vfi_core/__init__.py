"""FrameWeave's library: frame I/O and timing, metrics, models, fitting/training, flow, weights.

Nothing in ``vfi_core`` imports ComfyUI; the nodes in ``..nodes`` adapt it.
"""
