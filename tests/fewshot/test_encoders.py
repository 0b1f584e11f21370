"""Encoder registry, output shapes, batching, resnet adapter and weight serialisation."""

import json
import math

import numpy as np
import pytest
import torch

from workers.fewshot.chipping import ChipGrid
from workers.fewshot.encoders import (
    ChecksumError,
    build_encoder,
    list_encoders,
    load_encoder,
    save_encoder,
)
from workers.fewshot.encoders.base import (
    centre_chips,
    context_margin,
    extract_chips,
    window_batch,
    window_view,
)
from workers.fewshot.encoders.resnet import StateDictError, resnet
from workers.fewshot.pipeline import torch_threads


def test_registry_lists_the_three_encoders():
    assert {"default", "fourier", "resnet"} <= set(list_encoders())
    with pytest.raises(ValueError, match="unknown encoder"):
        build_encoder("nope")


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("fourier", {}),
        ("fourier", {"context": True}),
        ("default", {"weights": None}),
        ("default", {"weights": None, "context": True}),
        ("default", {}),
        ("resnet", {"weights": None, "input_size": 32}),
    ],
)
@pytest.mark.parametrize("chip", [8, 24])
def test_embed_shapes(name, kwargs, chip):
    enc = build_encoder(name, device="cpu", **kwargs)
    img = np.random.default_rng(0).random((50, 70)).astype(np.float32)
    grid = ChipGrid.for_shape(img.shape, chip, offset=(1, 2))
    emb = enc.embed(img, grid)
    assert emb.shape == (grid.rows, grid.cols, enc.dim)
    assert emb.dtype == torch.float32 and torch.isfinite(emb).all()


@pytest.mark.parametrize("kwargs", [{}, {"context": True}])
def test_embed_whole_image_matches_chip_by_chip(kwargs):
    enc = build_encoder("fourier", **kwargs)
    img = np.random.default_rng(1).random((56, 56)).astype(np.float32)
    grid = ChipGrid.for_shape(img.shape, 16, offset=(3, 0))
    emb = enc.embed(img, grid)
    m = enc.margin(16)
    assert m == (8 if kwargs else 0)
    y0, x0, y1, x1 = grid.chip_box(1, 1)  # an interior chip: its context lies in the image
    window = img[y0 - m : y1 + m, x0 - m : x1 + m]
    single = enc.embed_chips(torch.from_numpy(np.ascontiguousarray(window))[None, None])
    torch.testing.assert_close(emb[1, 1], single[0], rtol=1e-4, atol=1e-4)


def test_embed_batches_by_window_pixels(monkeypatch):
    """Large windows go through in small batches (at most ``batch_pixels`` window pixels per
    pass, ``batch_size`` windows at most), with the embeddings of one big batch."""
    enc = build_encoder("default")
    img = np.random.default_rng(2).random((160, 200)).astype(np.float32)
    grid = ChipGrid.for_shape(img.shape, 40)  # 80 px windows with context
    sizes = []
    embed_chips = enc.embed_chips
    monkeypatch.setattr(enc, "embed_chips", lambda x: sizes.append(len(x)) or embed_chips(x))
    whole = enc.embed(img, grid)
    assert sizes == [grid.n_chips]  # 20 windows of 80^2 px: well under 1 M px
    sizes.clear()
    enc.batch_pixels = 3 * 80 * 80
    torch.testing.assert_close(enc.embed(img, grid), whole, rtol=1e-5, atol=1e-5)
    assert sizes == [3] * 6 + [2]


def test_window_batches_are_the_extracted_windows():
    """Batches copied from the strided view, across grid rows, are the extracted windows."""
    img = torch.arange(120.0).reshape(10, 12)
    cut = {"chip_size": 3, "offset": (1, 0), "stride": 2, "margin": 1}
    chips, (nr, nc) = extract_chips(img, **cut)
    view = window_view(img, **cut)
    assert view.shape == (nr, nc, 5, 5)
    for start, stop in [(0, 1), (3, 9), (4, 5), (0, nr * nc)]:
        batch = window_batch(view, start, stop)
        assert batch.is_contiguous() and torch.equal(batch, chips[start:stop])


@pytest.mark.parametrize("name", ["default", "fourier"])
def test_batches_side_by_side_give_the_serial_embeddings(name):
    """On two threads whole batches run side by side (each on one torch thread): the same
    embeddings, bit for bit, as one thread."""
    enc = build_encoder(name)
    enc.batch_pixels = 5 * 64 * 64  # 7 batches of 32 px chips' context windows
    img = np.random.default_rng(3).random((200, 180)).astype(np.float32)
    grid = ChipGrid.for_shape(img.shape, 32)
    with torch_threads(1):
        serial = enc.embed(img, grid)
    with torch_threads(2):
        parallel = enc.embed(img, grid)
        assert torch.get_num_threads() == 2
    assert torch.equal(parallel, serial)


def test_extract_chips_with_stride():
    img = torch.arange(100.0).reshape(10, 10)
    chips, (nr, nc) = extract_chips(img, chip_size=4, offset=(1, 0), stride=2)
    assert (nr, nc) == (3, 4) and chips.shape == (12, 1, 4, 4)
    torch.testing.assert_close(chips[5, 0], img[3:7, 2:6])


def test_extract_chips_with_context_margin_mirrors_at_edges():
    img = torch.arange(120.0).reshape(10, 12)
    chips, (nr, nc) = extract_chips(img, chip_size=4, offset=(1, 2), margin=2)
    assert (nr, nc) == (2, 2) and chips.shape == (4, 1, 8, 8)
    # chip (1, 1) covers rows 5..8, cols 6..9: its window is rows 3..10, cols 4..11
    torch.testing.assert_close(chips[3, 0, :7], img[3:10, 4:12][:7])
    torch.testing.assert_close(chips[3, 0, 7], img[8, 4:12])  # row 10 mirrors row 8
    torch.testing.assert_close(centre_chips(chips)[3, 0], img[5:9, 6:10])
    # chip (0, 0) covers rows 1..4, cols 2..5: window rows -1..6 (row -1 mirrors row 1)
    torch.testing.assert_close(chips[0, 0, 0], img[1, 0:8])
    # a margin wider than the image is mirrored repeatedly instead of failing
    wide, _ = extract_chips(img[:3, :3], chip_size=3, margin=5)
    assert wide.shape == (1, 1, 13, 13)
    torch.testing.assert_close(wide[0, 0, 5:8, 5:8], img[:3, :3])


@pytest.mark.parametrize("s", [5, 8, 32, 33])
def test_centre_chips_inverts_context_margin(s):
    windows = torch.zeros(2, 1, s + 2 * context_margin(s), s + 2 * context_margin(s))
    assert centre_chips(windows).shape == (2, 1, s, s)


def test_fourier_is_orientation_sensitive():
    enc = build_encoder("fourier")
    yy, xx = np.indices((32, 32))
    a = np.sin(2 * np.pi * xx / 5).astype(np.float32)
    b = np.sin(2 * np.pi * (xx * np.cos(0.3) + yy * np.sin(0.3)) / 5).astype(np.float32)
    e = enc.embed_chips(torch.from_numpy(np.stack([a, a[:, ::-1].copy(), b]))[:, None])
    assert (e[0] - e[1]).norm() < 0.5 * (e[0] - e[2]).norm()


def test_default_encoder_is_deterministic_and_batch_independent():
    enc = build_encoder("default")
    chips = torch.rand(6, 1, 20, 20)
    full = enc.embed_chips(chips)
    torch.testing.assert_close(full, enc.embed_chips(chips))
    torch.testing.assert_close(full[2:3], enc.embed_chips(chips[2:3]), rtol=1e-4, atol=1e-5)


def test_save_load_roundtrip_and_checksum(tmp_path):
    enc = build_encoder("default", weights=None)
    save_encoder(enc, tmp_path / "m", metadata={"note": "test"})
    back = load_encoder(tmp_path / "m")
    chips = torch.rand(3, 1, 16, 16)
    torch.testing.assert_close(enc.embed_chips(chips), back.embed_chips(chips))
    assert back.metadata == {"note": "test"}
    w = tmp_path / "m" / "weights.pt"
    data = bytearray(w.read_bytes())
    data[-20] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(ChecksumError):
        load_encoder(tmp_path / "m")


def test_bundled_default_weights_verify_and_are_small():
    from workers.fewshot.encoders.default import BUNDLED_WEIGHTS

    doc = json.loads((BUNDLED_WEIGHTS / "config.json").read_text())
    assert doc["encoder"] == "default" and "command" in doc["metadata"]
    assert (BUNDLED_WEIGHTS / "weights.pt").stat().st_size < 5_000_000
    assert build_encoder("default").default_temperature > 0


def test_fourier_save_load(tmp_path):
    enc = build_encoder("fourier", n_angular=18)
    back = load_encoder(save_encoder(enc, tmp_path / "f"))
    assert back.dim == enc.dim and back.config() == enc.config()


def test_resnet_adapter_loads_own_state_dict_and_rejects_wrong_one(tmp_path):
    torch.manual_seed(0)
    net = resnet("resnet18")
    path = tmp_path / "r18.pth"
    torch.save(net.state_dict(), path)
    enc = build_encoder("resnet", weights=path, arch="resnet18", input_size=32, layer="layer3")
    torch.testing.assert_close(enc.model.conv1.weight, net.conv1.weight)
    assert enc.embed_chips(torch.rand(2, 1, 20, 20)).shape == (2, 256)

    bad = dict(net.state_dict())
    bad["layer1.0.conv1.weight"] = torch.zeros(3, 3, 3, 3)
    del bad["layer4.1.bn2.weight"]
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(
        StateDictError, match=r"missing.*layer4\.1\.bn2\.weight.*shape mismatch.*layer1\.0\.conv1"
    ):
        build_encoder("resnet", weights=tmp_path / "bad.pth")
    with pytest.raises(StateDictError, match="resnet50"):
        build_encoder("resnet", weights=path, arch="resnet50")


@pytest.mark.parametrize("shape", [(3, 4, 8, 8), (2, 3, 7, 9), (4, 8, 32, 32)])
def test_fast_max_pool_equals_torch_max_pool(shape):
    from torch import nn

    from workers.fewshot.encoders.default import MaxPool2

    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    assert torch.equal(MaxPool2()(x), nn.MaxPool2d(2)(x))


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("shape", [(2, 1, 16, 9), (2, 1, 64, 33), (3, 1, 7, 5)])
def test_fast_box_and_mean_pools_equal_torch_avg_pool(k, shape):
    import torch.nn.functional as F

    from workers.fewshot.encoders.spectral import _box_mean, _mean_pool2

    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    expected = F.avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False)
    torch.testing.assert_close(_box_mean(x, k), expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(_mean_pool2(x), F.avg_pool2d(x, 2), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("size", [64, 128, 213, 256, 428])
def test_summed_area_polar_spectrum_equals_box_filter_and_grid_sample(size, monkeypatch):
    """Large windows read box means from a summed-area table at the polar samples: the same
    values as box-filtering the whole spectrum and sampling it bilinearly."""
    from workers.fewshot.encoders import spectral

    g = torch.Generator().manual_seed(2)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    lattice = torch.cos(2 * math.pi * (yy * 0.11 + xx * 0.05)) * 0.3 + 0.5
    x = torch.stack([lattice + 0.05 * torch.rand(size, size, generator=g) for _ in range(3)])
    x = torch.cat([x[:, None], torch.rand(2, 1, size, size, generator=g)])
    monkeypatch.setattr(spectral, "SAT_MIN_BOX", 3)  # the table for every box size
    fast = spectral.polar_log_spectrum(x)
    monkeypatch.setattr(spectral, "SAT_MIN_BOX", 10**9)  # the filter for every box size
    torch.testing.assert_close(fast, spectral.polar_log_spectrum(x), rtol=0, atol=5e-5)


def test_intensity_quantiles_equal_torch_quantile():
    """The numpy-sorted quantiles of the intensity statistics are torch.quantile's, bit for bit
    (ties and clipped values included)."""
    from workers.fewshot.encoders.spectral import _QUANTILES, intensity_stats

    rng = np.random.default_rng(7)
    x = torch.from_numpy(rng.random((20, 1, 24, 24), dtype=np.float32) ** 3)
    x[:5, :, :12] = 0.0
    small = torch.nn.functional.interpolate(x, size=(16, 16), mode="area").reshape(20, -1)
    expected = torch.quantile(small, torch.tensor(_QUANTILES), dim=1).T
    assert torch.equal(intensity_stats(x)[:, 2:7], expected)


def test_default_encoder_inference_follows_weight_changes():
    """The folded (batch norm in conv) inference network gives the training network's
    embedding, and a weight change (fine-tuning, loading) is seen by the next embedding."""
    enc = build_encoder("default", texture=None)
    chips = torch.rand(6, 1, 48, 48)
    with torch.inference_mode():
        folded = enc.embed_chips(chips)
    with torch.enable_grad():  # autograd on: the network as trained
        plain = enc.net(chips).detach()
    assert torch.allclose(folded, plain, atol=1e-5)
    state = enc.state_dict()
    state["cnn.0.1.running_mean"] = state["cnn.0.1.running_mean"] + 0.3
    enc.load_state_dict(state)
    with torch.inference_mode():
        changed = enc.embed_chips(chips)
    assert not torch.allclose(changed, folded, atol=1e-3)
    with torch.enable_grad():
        assert torch.allclose(changed, enc.net(chips).detach(), atol=1e-5)
    with torch.no_grad():  # in place, as an optimiser step
        enc.net.cnn[0][0].weight.mul_(0.5)
    with torch.inference_mode():
        assert not torch.allclose(enc.embed_chips(chips), changed, atol=1e-3)
