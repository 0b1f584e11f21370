"""Seeded synthetic micrographs with pixel-exact truth, for benchmarks and episodic training.

from workers.fewshot import sim
s = sim.generate("sto_ge_interface", seed=0, size=(512, 512))
s.image (H, W) float32 counts, s.truth (H, W) int32 -> s.class_names
"""

from workers.fewshot.sim.cases import CASES, generate
from workers.fewshot.sim.files import pure_chips, tiff_bytes
from workers.fewshot.sim.imaging import ImagingConfig
from workers.fewshot.sim.randomized import random_scene
from workers.fewshot.sim.scene import CaseSpec, SimImage
from workers.fewshot.sim.textures import TEXTURE_CASES

__all__ = [
    "CASES",
    "TEXTURE_CASES",
    "CaseSpec",
    "ImagingConfig",
    "SimImage",
    "generate",
    "pure_chips",
    "random_scene",
    "tiff_bytes",
]
