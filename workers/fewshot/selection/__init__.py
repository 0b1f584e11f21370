"""The selection set: synthetic micrographs of every group, for choosing settings.

Training recipes and settings are chosen here, apart from both the training simulator
(``workers.fewshot.sim``, whose scenes the encoder learnt from) and the report set
(``workers.fewshot.unseen``). The rendering is its own. Particles: 3D solids (crystals at random
tilt, rods, shells, rafts) projected along the beam, on supports of their own (wrinkled, holey
and lacy carbon, a lattice-resolved oxide edge, a silicon wafer), imaged by bright-field TEM
with a defocused lens, annular dark-field STEM with scan faults, or secondary-electron SEM.
Lattices: crystals down a zone axis built from unit cells (twinned gold, an InGaAs film on
GaAs, ordered and disordered Cu3Au, copper and cuprite grains), seen by HRTEM or atomic-
resolution HAADF. Textures: mosaics of procedural textures (foam, fibres, eutectic lamellae,
spinodal phases, speckle, Swift-Hohenberg patterns). It imports nothing from
``workers.fewshot.sim`` or ``workers.fewshot.unseen``.

    from workers.fewshot import selection
    s = selection.generate("sel_hollow_vs_solid_bf", seed=0, size=(512, 512))  # SimImage-like
"""

from workers.fewshot.selection.cases import SELECTION_CASES, generate
from workers.fewshot.selection.scene import SelectionCase, SelectionImage

__all__ = ["SELECTION_CASES", "SelectionCase", "SelectionImage", "generate"]
