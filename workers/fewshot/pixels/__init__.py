"""Pixel-accurate maps from a chip-level segmentation: labels and confidence per pixel.

A chip map is one label per chip: boundaries are staircases and anything smaller than a chip
is lost. Here the chip classifier's result trains a small per-image pixel classifier
(transductive, few-shot), whose scores are combined with the chip map as a prior:

1. Per-pixel features on a reduced grid (``samples`` per chip side, area-averaged: 4 px cells
   for 32 px chips): intensity and local variance smoothed at s / 16 and s / 4 (s the chip
   size), and the amplitudes of complex Gabor filters tuned to the support chips' spectral
   peaks (``frequencies.support_frequencies``: what tells lattice domains apart), from one FFT
   of the zero-padded frame and one small inverse FFT per peak (``boundary.gabor_amplitudes``:
   no wrap-around, which put a strip of the opposite edge's class along the frame's border:
   seen lattices at k = 1, mean boundary error 3.5 -> 2.7 px). Amplitudes, not log
   amplitudes: features that mix about linearly with class area put the boundary where the
   areas are equal (with log features, boundaries moved towards the weaker class: 4.0 vs
   1.6 px mean boundary error on three seen lattice cases).
2. Class statistics from the pixels of the support chips and of confidently labelled interior
   chips (confidence >= ``confident`` and 8 neighbours with the same label), re-estimated once
   with only the pixels that the first pass gives to their chip's class (a particle chip is
   partly support). A Gaussian classifier (class means, one shrunk covariance, the classes
   weighted alike) scores every pixel, blended with the same model on a diagonal covariance
   (``diagonal``), which extrapolates better to objects smaller than the coarse scale.
3. Scores: ``pixel_weight * log p_pixel + prior_weight * log p_chip``, the chip probabilities
   spread bilinearly over the pixels. Inside confident chips the prior keeps the chip's label
   unless the pixel evidence is strong (a particle smaller than a chip); where neighbouring
   chips disagree the prior is flat and the pixels decide. A pixel that the pixel classifier
   cannot tell apart (two particle classes of one material) takes its chip's class.
4. Scores are smoothed slightly (``smooth``) and bilinearly upsampled to full resolution;
   the label is the best class, the confidence the logistic of the margin between the best
   two (the combined posterior for two classes, an upper bound of it for more).

Confidence therefore follows the chip's calibrated probability in a chip interior where the
pixels agree with it, rises where pixel evidence and chip agree, and falls to about 1 / 2 on
boundaries. Capping it by the chip probability (the first design) was under-confident on
the seen cases: expected calibration error 0.08 vs 0.02.

5. A spot the background's own noise does not explain is not background
   (``classifier.background_outliers``, ``core._background_outliers``): where one class
   covers over half the samples and another class lies far from it (over 12 robust spreads of
   the background's fine intensity), samples reaching 6 spreads towards that class seed a
   spot that grows over its neighbours at 3 spreads or more, down to 15 % of its peak; the
   spot takes the class of the nearest sample of another class (a faint rim continues its
   particle) or its best summed score, by a margin of 1 (log odds; confidence ~0.73). The
   Gaussian classifier alone puts the decision midway between the background's and the
   examples' statistics: particles fainter than that midpoint (thin, or far dimmer than a
   saturated example) were called background however far they stood out of its noise.
   Chosen on seen scenes (particles_mixed_thickness: 19 -> 59 of 74 particles found);
   lattices and textures are untouched (their classes do not lie that far apart in intensity).

A faint spot flagged as uncertain (``blob_z``) is flagged to its own outline (hysteresis on
its contrast, traced by bilinear upsampling), not as squares of samples, and only when the
whole spot is significant (``blob_snr``: its summed excess over the square root of its
samples), so that noise spikes do not speckle a class.

Speed (a 4096^2 frame at 32 px chips: 1.6 s -> 0.2-0.45 s of CPU, labels identical on the seen
cases and the speed bench's images, confidence within 4e-5): the features that do not depend
on the support set are kept in :class:`PixelFeatures`, which a worker caches per frame and
grid, so a re-run after a support-set edit only classifies; the classifier runs on the
reduced grid (float32, feature-major, one quadratic form for the blended models); and only
the blocks between samples that disagree or are unsure are upsampled pixel by pixel
(:func:`upsample.full_resolution`; K full-size score planes before).

6. The outlines of the classes marked as objects then move, at full resolution, to where the
   frame's intensity crosses between each object and its surroundings (``edges``: half the
   local contrast to join, a quarter to stay): seen particles, boundary error 3.1 -> 2.0 px.

Not done: an edge-aware step for regions (superpixels, CRF). The features are smoothed at
s / 16 (2 px for 32 px chips) and sampled every s / 8 px, which bounds how small an object
can be found: about a third of a chip in area (tests/fewshot/test_pixels.py).

Modules: ``features`` (PixelConfig, PixelFeatures, pixel_features), ``classifier`` (the
Gaussian pixel classifier and the faint-spot test), ``upsample`` (full-resolution labels and
confidence), ``edges`` (object outlines at full resolution), ``core`` (pixel_map,
chip_shares).
"""

from workers.fewshot.pixels.core import PixelMap, chip_shares, pixel_map
from workers.fewshot.pixels.features import PixelConfig, PixelFeatures, pixel_features
from workers.fewshot.pixels.upsample import full_resolution

__all__ = [
    "PixelConfig",
    "PixelFeatures",
    "PixelMap",
    "chip_shares",
    "full_resolution",
    "pixel_features",
    "pixel_map",
]
