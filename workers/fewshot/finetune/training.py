"""The fine-tuning loop: options, which weights train, held-out evaluation and the epoch kept."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workers.fewshot.encoders.base import Encoder
from workers.fewshot.episodes import Episode
from workers.fewshot.finetune.pools import (
    AUGMENTS,
    TRAINABLE,
    SupportSet,
    build_pools,
    make_episodes,
)
from workers.fewshot.pipeline import torch_threads


@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning options (all randomness derives from ``seed``)."""

    epochs: int = 10
    episodes_per_epoch: int = 16
    lr: float = 3e-4
    weight_decay: float = 1e-4
    k_shot: int = 3
    n_query: int = 12
    holdout_fraction: float = 0.25
    holdout_episodes: int = 16
    seed: int = 0
    threads: int = 2
    #: training-episode augmentation: "photometric" (gamma / contrast / offset jitter per image,
    #: no geometry: orientation and handedness are often the very cue that separates a lab's
    #: classes, e.g. rotated domains or twins), "geometric" (photometric plus one rot90 / flip
    #: per episode) or "none"
    augment: str = "photometric"
    #: which weights train: "head" (everything after the conv trunk: spectral / statistics
    #: MLPs, the fusion head, the Fourier-descriptor weight and the temperature; the conv trunk
    #: and all BatchNorm layers stay frozen) or "all"
    trainable: str = "head"
    #: episodes draw support and query chips from one image ("image", as when segmenting a
    #: micrograph) or pool each class's chips over images ("pool"); see make_episodes
    scope: str = "image"
    #: model selection on the held-out episodes: "both" or "acc" (see _better)
    select: str = "both"

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class FinetuneResult:
    encoder: Encoder
    history: list[dict]
    best: dict
    before: dict
    holdout: list[Episode]
    seconds: float
    stopped: bool = False


def trainable_module(encoder: Encoder) -> nn.Module:
    """The nn.Module holding an encoder's learned weights; ValueError for training-free ones."""
    for attr in ("net", "model"):
        module = getattr(encoder, attr, None)
        if isinstance(module, nn.Module) and any(True for _ in module.parameters()):
            return module
    raise ValueError(f"the {encoder.name!r} encoder has no trainable weights")


def trainable_parameters(encoder: Encoder, module: nn.Module, mode: str) -> list[nn.Parameter]:
    """The parameters fine-tuning updates (see ``FinetuneConfig.trainable``).

    "head": BatchNorm layers always stay frozen; for the default encoder's ChipNet the conv
    trunk too (its spectral / statistics MLPs, fusion head, Fourier weight and temperature
    train); for a ResNet only the last stage used for the embedding (``cfg.layer``) trains.
    """
    if mode not in TRAINABLE:
        raise ValueError(f"trainable must be one of {TRAINABLE}, not {mode!r}")
    if mode == "all":
        return list(module.parameters())
    frozen = {
        id(p)
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        for p in m.parameters()
    }
    layer = getattr(getattr(encoder, "cfg", None), "layer", None)
    if isinstance(getattr(module, "cnn", None), nn.Module):
        frozen |= {id(p) for p in module.cnn.parameters()}
    elif isinstance(layer, str) and isinstance(getattr(module, layer, None), nn.Module):
        keep = {id(p) for p in getattr(module, layer).parameters()}
        frozen |= {id(p) for p in module.parameters() if id(p) not in keep}
    out = [p for p in module.parameters() if id(p) not in frozen]
    if not out:
        raise ValueError(f"the {encoder.name!r} encoder has no trainable head weights")
    return out


# --- loss and evaluation -----------------------------------------------------------------
def _fixed_scale(encoder: Encoder, emb: torch.Tensor, ep: Episode) -> torch.Tensor:
    """The encoder's trained inverse temperature, or 1 / mean query-prototype distance."""
    t = encoder.default_temperature
    if t:
        return torch.tensor(1.0 / t)
    d = -ep.logits(emb, torch.tensor(1.0))
    return 1.0 / d.mean().clamp_min(1e-6)


@torch.inference_mode()
def evaluate_encoder(encoder: Encoder, episodes: Sequence[Episode]) -> dict[str, float]:
    """Query accuracy and NLL of prototypical classification over fixed episodes."""
    accs, losses, n = [], [], 0
    for ep in episodes:
        emb = encoder.embed_chips(ep.chips.to(encoder.device)).float().cpu()
        logits = ep.logits(emb, _fixed_scale(encoder, emb, ep))
        yq = ep.query_labels
        accs.append(float((logits.argmax(1) == yq).float().mean()))
        losses.append(float(F.cross_entropy(logits, yq)))
        n += len(yq)
    return {
        "acc": float(np.mean(accs)),
        "loss": float(np.mean(losses)),
        "episodes": len(episodes),
        "queries": n,
    }


# --- training ----------------------------------------------------------------------------
def _better(v: dict, best: dict, select: str) -> bool:
    """Model selection on the held-out episodes: "acc" (ties broken by lower NLL) or "both"
    (higher accuracy AND lower NLL: with small held-out sets an accuracy gain of a query or two
    alone is often noise, and a lower NLL at equal accuracy can be a sharper temperature only)."""
    if select == "both":
        return v["acc"] > best["holdout_acc"] and v["loss"] < best["holdout_loss"]
    return (v["acc"], -v["loss"]) > (best["holdout_acc"], -best["holdout_loss"])


def finetune(
    encoder: Encoder,
    train_sets: Sequence[SupportSet],
    holdout_sets: Sequence[SupportSet],
    cfg: FinetuneConfig,
    *,
    callback: Callable[[int, dict], bool] | None = None,
) -> FinetuneResult:
    """Fine-tune a copy of ``encoder``; keeps the epoch with the best held-out accuracy.

    ``callback(epoch, row)`` is called after every epoch with the history row; returning False
    stops training (cancellation). Epoch 0 is the base encoder. Torch runs on ``cfg.threads``
    threads meanwhile; the process's setting is restored after.
    """
    with torch_threads(cfg.threads):
        return _finetune(encoder, train_sets, holdout_sets, cfg, callback=callback)


def _finetune(
    encoder: Encoder,
    train_sets: Sequence[SupportSet],
    holdout_sets: Sequence[SupportSet],
    cfg: FinetuneConfig,
    *,
    callback: Callable[[int, dict], bool] | None,
) -> FinetuneResult:
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    enc, module, params = _trainable_copy(encoder, cfg)
    train_pools = build_pools(train_sets, enc.margin)
    holdout = make_episodes(
        build_pools(holdout_sets, enc.margin),
        np.random.default_rng(cfg.seed + 7919),
        n=cfg.holdout_episodes,
        k_shot=cfg.k_shot,
        n_query=cfg.n_query,
        augment=False,
        scope=cfg.scope,
    )
    before = evaluate_encoder(enc, holdout)
    log_scale = _log_scale(enc, module, train_pools, cfg, params)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    best_state = copy.deepcopy(module.state_dict())
    best = {"epoch": 0, "holdout_acc": before["acc"], "holdout_loss": before["loss"]}
    history = [
        {
            "epoch": 0,
            "train_loss": None,
            "train_acc": None,
            "holdout_loss": before["loss"],
            "holdout_acc": before["acc"],
            "seconds": 0.0,
        }
    ]
    stopped = False
    if callback is not None and callback(0, history[0]) is False:
        stopped = True
    for epoch in range(1, cfg.epochs + 1):
        if stopped:
            break
        losses, accs = _train_epoch(enc, train_pools, rng, cfg, opt, params, log_scale)
        module.eval()
        v = evaluate_encoder(enc, holdout)
        row = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)),
            "train_acc": float(np.mean(accs)),
            "holdout_loss": v["loss"],
            "holdout_acc": v["acc"],
            "seconds": round(time.perf_counter() - t0, 3),
        }
        history.append(row)
        if _better(v, best, cfg.select):
            best = {"epoch": epoch, "holdout_acc": v["acc"], "holdout_loss": v["loss"]}
            best_state = copy.deepcopy(module.state_dict())
        if callback is not None and callback(epoch, row) is False:
            stopped = True
    module.load_state_dict(best_state)
    for p in module.parameters():
        p.requires_grad_(False)
    module.eval()
    return FinetuneResult(
        encoder=enc,
        history=history,
        best=best,
        before=before,
        holdout=holdout,
        seconds=time.perf_counter() - t0,
        stopped=stopped,
    )


def _trainable_copy(
    encoder: Encoder, cfg: FinetuneConfig
) -> tuple[Encoder, nn.Module, list[nn.Parameter]]:
    """A copy of the encoder, its trainable module (eval mode) and the parameters that train
    (``cfg.trainable``; the only ones that require gradients)."""
    enc = copy.deepcopy(encoder)
    module = trainable_module(enc)
    module.eval()
    params = trainable_parameters(enc, module, cfg.trainable)
    if cfg.augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {AUGMENTS}, not {cfg.augment!r}")
    if cfg.select not in ("acc", "both"):
        raise ValueError(f"select must be 'acc' or 'both', not {cfg.select!r}")
    for p in module.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    return enc, module, params


def _log_scale(
    enc: Encoder,
    module: nn.Module,
    train_pools: dict,
    cfg: FinetuneConfig,
    params: list[nn.Parameter],
) -> nn.Parameter:
    """The module's trained log inverse temperature, or a new one (appended to ``params``)
    at 4 / the mean query-prototype distance of a first training episode."""
    log_scale = getattr(module, "log_scale", None)
    if isinstance(log_scale, nn.Parameter):
        return log_scale
    first = make_episodes(
        train_pools,
        np.random.default_rng(cfg.seed),
        n=1,
        k_shot=cfg.k_shot,
        n_query=cfg.n_query,
        augment=False,
    )[0]
    with torch.no_grad():
        emb = enc.embed_chips(first.chips.to(enc.device)).float()
        d = -first.logits(emb.cpu(), torch.tensor(1.0)).mean()
    log_scale = nn.Parameter(torch.tensor(-math.log(max(float(d), 1e-6)) + math.log(4.0)))
    params.append(log_scale)
    return log_scale


def _train_epoch(
    enc: Encoder,
    train_pools: dict,
    rng: np.random.Generator,
    cfg: FinetuneConfig,
    opt: torch.optim.Optimizer,
    params: list[nn.Parameter],
    log_scale: nn.Parameter,
) -> tuple[list[float], list[float]]:
    """One epoch of training episodes: each episode's query loss and accuracy."""
    losses, accs = [], []
    for ep in make_episodes(
        train_pools,
        rng,
        n=cfg.episodes_per_epoch,
        k_shot=cfg.k_shot,
        n_query=cfg.n_query,
        augment=cfg.augment,
        scope=cfg.scope,
    ):
        emb = enc.embed_chips(ep.chips.to(enc.device)).float().cpu()
        logits = ep.logits(emb, log_scale.exp().cpu())
        yq = ep.query_labels
        value = F.cross_entropy(logits, yq)
        opt.zero_grad(set_to_none=True)
        value.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        losses.append(float(value.detach()))
        accs.append(float((logits.argmax(1) == yq).float().mean()))
    return losses, accs
