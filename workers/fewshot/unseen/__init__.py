"""Held-out evaluation data: micrographs the engine never trained or chose settings on.

Three sets are kept apart: ``sim.random_scene`` trains, ``sim.CASES`` + ``sim.TEXTURE_CASES``
choose settings ("seen"), and this package reports ("unseen"). Its rendering is its own code
(Fourier-synthesised crystals, other particle shapes and imaging, other bundled textures); it
imports nothing from ``workers.fewshot.sim``. ``real`` loads real micrographs with hand-checked
chip truth (validation only).

    from workers.fewshot import unseen
    s = unseen.generate("u_hex_grain_rotation", seed=0, size=512)   # SimImage-compatible
"""

from workers.fewshot.unseen.cases import UNSEEN_CASES, generate
from workers.fewshot.unseen.scene import UnseenCase, UnseenImage

__all__ = ["UNSEEN_CASES", "UnseenCase", "UnseenImage", "generate"]
