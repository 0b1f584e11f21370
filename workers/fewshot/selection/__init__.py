"""The selection set: synthetic nanoparticle micrographs for choosing particle settings.

Training recipes and particle settings are chosen here, apart from both the training simulator
(``workers.fewshot.sim``, whose scenes the encoder learnt from) and the report set
(``workers.fewshot.unseen``). The rendering is its own: particles are 3D solids (crystals at
random tilt, rods, shells, rafts) projected along the beam, on supports of their own (wrinkled,
holey and lacy carbon, a lattice-resolved oxide edge, a silicon wafer), imaged by bright-field
TEM with a defocused lens, annular dark-field STEM with scan faults, or secondary-electron SEM.
It imports nothing from ``workers.fewshot.sim`` or ``workers.fewshot.unseen``.

    from workers.fewshot import selection
    s = selection.generate("sel_hollow_vs_solid_bf", seed=0, size=(512, 512))  # SimImage-like
"""

from workers.fewshot.selection.cases import SELECTION_CASES, generate
from workers.fewshot.selection.scene import SelectionCase, SelectionImage

__all__ = ["SELECTION_CASES", "SelectionCase", "SelectionImage", "generate"]
