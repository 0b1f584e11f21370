"""Local binary pattern texture group: invariances, discrimination, the default encoder's group."""

import numpy as np
import pytest
import torch

from workers.fewshot.chipping import ChipGrid
from workers.fewshot.encoders import build_encoder, load_encoder, save_encoder
from workers.fewshot.encoders.texture import (
    N_BINS,
    TextureConfig,
    _blur_matrix,
    _smooth,
    lbp_histograms,
    texture_dim,
)


def _chips(seed: int, n: int = 4, s: int = 32) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.random((n, 1, s, s), dtype=np.float32))


def test_histograms_are_distributions_per_radius():
    cfg = TextureConfig(radii=(1, 3), weight=1.0)
    f = lbp_histograms(_chips(0), cfg)
    assert f.shape == (4, texture_dim(cfg)) == (4, 2 * N_BINS)
    squared = f.square().reshape(4, 2, N_BINS).sum(-1)  # square-rooted histograms
    assert torch.allclose(squared, torch.ones_like(squared), atol=1e-5)


def test_invariant_to_brightness_and_contrast():
    """A grain twice as bright with an offset (thickness, gain) has the same texture."""
    x = _chips(1)
    f = lbp_histograms(x)
    assert torch.allclose(lbp_histograms(2.5 * x + 0.3), f, atol=1e-5)
    # without the (linear) pre-smoothing: any increasing grey-level map
    raw = TextureConfig(smooth=0.0)
    assert torch.allclose(lbp_histograms(torch.sqrt(x), raw), lbp_histograms(x, raw), atol=1e-5)
    # but not to an inversion (dark spots on bright are another texture than bright spots)
    assert not torch.allclose(lbp_histograms(1 - x), f, atol=1e-3)


def test_rotation_invariant_for_quarter_turns():
    x = _chips(2)
    assert torch.allclose(lbp_histograms(torch.rot90(x, 1, (2, 3))), lbp_histograms(x), atol=1e-5)


def test_tells_textures_apart():
    """Stripes and noise of equal mean and std are far apart; two noise draws are close."""
    s = 32
    xx = np.mgrid[:s, :s][1]
    stripes = (0.5 + 0.3 * np.sin(2 * np.pi * xx / 8)).astype(np.float32)
    noise = np.random.default_rng(3).normal(0.5, 0.21, (2, s, s)).astype(np.float32)
    f = lbp_histograms(torch.from_numpy(np.stack([stripes, noise[0], noise[1]])[:, None]))
    d = torch.cdist(f, f)
    assert d[1, 2] < 0.5 * d[0, 1] and d[1, 2] < 0.5 * d[0, 2]


def test_small_chip_without_room_gives_zeros_not_an_error():
    f = lbp_histograms(_chips(4, s=6), TextureConfig(radii=(1, 4)))
    assert f.shape == (4, 2 * N_BINS)
    assert torch.all(f[:, N_BINS:] == 0) and torch.all(f[:, :N_BINS].sum(1) > 0)


def test_default_encoder_appends_the_texture_group(tmp_path):
    enc = build_encoder("default")
    plain = build_encoder("default", texture=None)
    name, sl = enc.groups[-1]
    assert name == "chip_texture" and sl.stop == enc.dim == plain.dim + sl.stop - sl.start
    img = np.random.default_rng(5).random((96, 96)).astype(np.float32)
    grid = ChipGrid.for_shape(img.shape, 32)
    emb, base = enc.embed(img, grid), plain.embed(img, grid)
    # the network's part is unchanged, the texture part is that of the chips themselves
    assert torch.allclose(emb[..., : plain.dim], base, atol=1e-5)
    chips = torch.from_numpy(img).reshape(3, 32, 3, 32).permute(0, 2, 1, 3).reshape(9, 1, 32, 32)
    assert torch.allclose(
        emb[..., sl].reshape(9, -1), lbp_histograms(chips, enc.texture), atol=1e-5
    )
    # saved and loaded with its texture options
    save_encoder(enc, tmp_path / "enc")
    back = load_encoder(tmp_path / "enc")
    assert back.config() == enc.config() and back.dim == enc.dim


@pytest.mark.parametrize("texture", [None, {"radii": [2], "weight": 2.0}])
def test_default_encoder_texture_options(texture):
    enc = build_encoder("default", texture=texture)
    assert enc.config()["texture"] == (None if texture is None else enc.config()["texture"])
    if texture is not None:
        assert enc.texture == TextureConfig(radii=(2,), weight=2.0)
        assert enc.groups[-1][1].stop - enc.groups[-1][1].start == N_BINS


def _reference_lbp(chips: torch.Tensor, cfg: TextureConfig) -> torch.Tensor:
    """riu2 histograms pixel by pixel: brighter neighbours and 0/1 transitions around the circle."""
    from workers.fewshot.encoders.texture import _smooth

    n, _, h, w = chips.shape
    out = []
    for radius in cfg.radii:
        d = max(1, round(radius / np.sqrt(2)))
        r = max(radius, d)
        x = _smooth(chips[:, 0].float(), cfg.smooth * radius).numpy()
        offsets = [(0, radius), (d, d), (radius, 0), (d, -d)]
        offsets += [(0, -radius), (-d, -d), (-radius, 0), (-d, d)]
        hist = np.zeros((n, N_BINS))
        for i in range(n):
            for y in range(r, h - r):
                for xx in range(r, w - r):
                    b = [int(x[i, y + dy, xx + dx] >= x[i, y, xx]) for dy, dx in offsets]
                    turns = sum(b[j] ^ b[(j + 1) % 8] for j in range(8))
                    hist[i, sum(b) if turns <= 2 else N_BINS - 1] += 1
        out.append(np.sqrt(hist / ((h - 2 * r) * (w - 2 * r))))
    return torch.from_numpy(np.concatenate(out, 1)).float() * cfg.weight


@pytest.mark.parametrize("smooth", [0.0, 0.5])
def test_packed_patterns_count_like_the_per_pixel_definition(smooth):
    """The byte-packed, table-mapped histograms are the per-pixel riu2 counts, including ties
    (a flat, clipped area: every neighbour "at least as bright")."""
    x = _chips(6, n=3, s=14)
    x[0, 0, :7, :7] = 0.0
    cfg = TextureConfig(radii=(1, 2, 4), smooth=smooth, weight=1.0)
    assert torch.allclose(lbp_histograms(x, cfg), _reference_lbp(x, cfg), atol=1e-6)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_banded_blur_of_large_chips_is_the_full_matrix_product(sigma):
    """Chips over 64 px are blurred block by block: the full blur matrices' product, to
    float32 rounding, reflected borders included."""
    x = _chips(7, n=3, s=150)[:, 0, :, :107]
    full = _blur_matrix(150, sigma) @ x @ _blur_matrix(107, sigma).T
    torch.testing.assert_close(_smooth(x, sigma), full, rtol=0, atol=1e-6)
