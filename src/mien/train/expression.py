"""Train the expression model: ``mien train expression --data DATA --out DIR``.

Steps: load the faces (datasets.load), cut them as analysis does (align.aligned_crops), fine-tune an
ImageNet MobileNetV2 on the training split against the FER+ vote distributions (and FER2013's own
labels where known), keep the epoch that scores best on the validation split, fit the temperature
on the validation split, export ONNX. The test split is never looked at here.

Everything random is drawn from generators seeded by (seed, epoch), so a run is repeatable and a
run stopped at any point resumes from its last finished epoch (DIR/checkpoint.pt) to the same result.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mien.models.registry import resolve
from mien.progress import tracked
from mien.schema import EMOTIONS, FER2013_EMOTIONS
from mien.train.align import aligned_crops
from mien.train.augment import augment
from mien.train.datasets import TRAIN, VAL, load
from mien.train.export import export_onnx
from mien.train.metrics import fit_temperature, score, softmax
from mien.train.network import ExpressionNet

log = logging.getLogger("mien.train")


@dataclass
class TrainConfig:
    data: str
    out: str
    epochs: int = 28
    batch_size: int = 64
    learning_rate: float = 1e-3  # AdamW peak, after a one-epoch warm-up; cosine decay to zero
    weight_decay: float = 0.05
    input_size: int = 96  # the 48-px crop is enlarged to this inside the network
    fer2013_weight: float = 0.5  # weight of the FER2013-label head's loss
    seed: int = 0
    threads: int = 0  # torch threads; 0 = torch's default (all cores)
    align_workers: int = 2
    limit: int | None = None  # use only the first N training faces (quick trials, tests)
    stop_after: int | None = None  # end this run after N epochs in all; rerun to go on (job time limits)


def train_expression(config: TrainConfig) -> Path | None:
    """Run (or resume) training; return the exported ONNX file (None when stopped by stop_after)."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    if config.threads:
        torch.set_num_threads(config.threads)
    faces = load(config.data)
    crops, _ = aligned_crops(faces, workers=config.align_workers)
    crops_t = torch.from_numpy(crops).unsqueeze(1)
    targets = torch.from_numpy(faces.targets)
    trainable_fer2013 = np.where(faces.fer2013_ambiguous, -1, faces.fer2013)
    fer2013 = torch.from_numpy(trainable_fer2013)
    has_target = faces.targets.sum(axis=1) > 0
    train_rows = np.flatnonzero((faces.split == TRAIN) & (has_target | (trainable_fer2013 >= 0)))
    if config.limit:
        train_rows = train_rows[: config.limit]
    val_rows = np.flatnonzero((faces.split == VAL) & has_target)
    if len(train_rows) == 0 or len(val_rows) == 0:
        raise ValueError(f"{config.data}: needs labelled faces in both the train and the val split")
    log.info("train %d faces, val %d faces", len(train_rows), len(val_rows))

    torch.manual_seed(config.seed)  # the new heads' starting weights
    net = ExpressionNet(config.input_size).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    checkpoint = out / "checkpoint.pt"
    history: list[dict] = []
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if state["config"] != _comparable(config):
            changed = sorted(k for k, v in _comparable(config).items() if state["config"].get(k) != v)
            raise ValueError(f"{checkpoint} was made with other settings ({', '.join(changed)}); "
                             "use the same settings to resume, or another --out")
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = state["history"]
        log.info("resuming after epoch %d", len(history))
    else:
        net.load_imagenet(torch.load(resolve("mobilenet_v2_imagenet").path, map_location="cpu"))

    steps_per_epoch = math.ceil(len(train_rows) / config.batch_size)
    for epoch in range(len(history), config.epochs):
        if config.stop_after is not None and epoch >= config.stop_after:
            log.info("stopping after epoch %d of %d as asked; run again to go on", epoch, config.epochs)
            return None
        started = time.monotonic()
        generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        torch.manual_seed(config.seed * 100_003 + epoch)  # dropout
        net.train()
        order = torch.from_numpy(train_rows)[torch.randperm(len(train_rows), generator=generator)]
        total_loss = 0.0
        batches = order.split(config.batch_size)
        for step, batch in enumerate(tracked(batches, len(batches), f"epoch {epoch + 1}/{config.epochs}")):
            _set_learning_rate(optimizer, config, epoch * steps_per_epoch + step, steps_per_epoch)
            images = augment(crops_t[batch].float(), generator).contiguous(memory_format=torch.channels_last)
            expression_logits, fer2013_logits = net(images)
            loss = _loss(expression_logits, fer2013_logits, targets[batch], fer2013[batch], config.fer2013_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += float(loss.detach())
        logits, mirrored, _, _ = predict_logits(net, crops_t[val_rows])
        probabilities = (softmax(logits) + softmax(mirrored)) / 2
        val = score(probabilities, faces.labels[val_rows], EMOTIONS)
        history.append({"epoch": epoch + 1, "loss": total_loss / steps_per_epoch, "val_accuracy": val.accuracy,
                        "val_mean_recall": val.mean_recall, "seconds": time.monotonic() - started})  # fmt: skip
        best_so_far = val.accuracy >= max(h["val_accuracy"] for h in history)
        if best_so_far:
            _save_atomically(net.state_dict(), out / "best.pt")
        _save_atomically({"config": _comparable(config), "model": net.state_dict(),
                          "optimizer": optimizer.state_dict(), "history": history}, checkpoint)  # fmt: skip
        _write_history(history, out / "history.csv")
        log.info("epoch %d/%d  loss %.4f  val accuracy %.2f%%  mean recall %.2f%%  %.0f s%s", epoch + 1,
                 config.epochs, history[-1]["loss"], 100 * val.accuracy, 100 * val.mean_recall,
                 history[-1]["seconds"], "  (best)" if best_so_far else "")  # fmt: skip
    train_targets = faces.targets[train_rows][has_target[train_rows]]
    prior = train_targets.mean(axis=0)
    return _finish(net, faces, crops_t, val_rows, prior, config, history, out)


def _finish(net, faces, crops_t, val_rows, prior: np.ndarray, config: TrainConfig, history: list[dict],
            out: Path) -> Path:  # fmt: skip
    """Best epoch, prior correction and temperatures chosen on the validation split, ONNX export,
    and a report."""
    net.load_state_dict(torch.load(out / "best.pt", map_location="cpu"))
    logits, mirrored, fer_logits, fer_mirrored = predict_logits(net, crops_t[val_rows])
    labels = faces.labels[val_rows]
    strength, bias, by_strength = _prior_correction(logits, mirrored, labels, prior)
    logits, mirrored = logits + bias, mirrored + bias
    temperature = fit_temperature(logits, mirrored, labels)
    fer_labels = faces.fer2013[val_rows]
    fer_rows = fer_labels >= 0
    fer_temperature = (fit_temperature(fer_logits[fer_rows], fer_mirrored[fer_rows], fer_labels[fer_rows])
                       if fer_rows.any() else 1.0)  # a set without FER2013 labels leaves that head untrained
    val = score((softmax(logits / temperature) + softmax(mirrored / temperature)) / 2, labels, EMOTIONS)
    best = max(history, key=lambda h: h["val_accuracy"])
    report = {"config": asdict(config), "best_epoch": best["epoch"], "prior": prior.tolist(),
              "prior_correction": strength, "val_by_prior_correction": by_strength, "temperature": temperature,
              "fer2013_temperature": fer_temperature, "val": val.as_dict(), "history": history}  # fmt: skip
    (out / "report.json").write_text(json.dumps(report, indent=2))
    log.info("best epoch %d; prior correction %.2f; temperature %.3f; val accuracy %.2f%%, mean recall %.2f%%, "
             "ECE %.2f%%", best["epoch"], strength, temperature, 100 * val.accuracy, 100 * val.mean_recall,
             100 * val.ece)  # fmt: skip
    metadata = {"classes": ",".join(EMOTIONS), "fer2013_classes": ",".join(FER2013_EMOTIONS),
                "temperature": f"{temperature:.4f}", "fer2013_temperature": f"{fer_temperature:.4f}",
                "prior_correction": f"{strength:.2f}", "input_size": str(config.input_size),
                "best_epoch": str(best["epoch"]),
                "val_accuracy": f"{val.accuracy:.4f}", "training": json.dumps(asdict(config))}  # fmt: skip
    return export_onnx(net, bias, temperature, fer_temperature, out / "expression.onnx", metadata)


# How strongly to remove the training set's class frequencies from the logits (Menon et al., "Long-tail
# learning via logit adjustment", ICLR 2021): 0 keeps them, 1 treats every expression as equally likely.
PRIOR_STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
MIN_MEAN_RECALL = 0.70  # wanted on the validation split: rare expressions must be found too


def _prior_correction(logits: np.ndarray, mirrored: np.ndarray, labels: np.ndarray, prior: np.ndarray):
    """The weakest correction whose validation mean per-class recall reaches MIN_MEAN_RECALL (so
    accuracy gives up as little as possible), or the one with the best recall if none does. FER+ has
    40x fewer contempt than neutral faces: uncorrected, the rare classes are almost never chosen.
    Returns (strength, bias to add to the logits, validation scores by strength)."""
    by_strength = {}
    log_prior = np.log(np.maximum(prior, 1e-12))

    def bias_of(strength: float) -> np.ndarray:  # classes never trained on are left alone
        return np.where(prior > 0, -strength * log_prior, 0.0).astype(np.float32)

    for strength in PRIOR_STRENGTHS:
        bias = bias_of(strength)
        scores = score((softmax(logits + bias) + softmax(mirrored + bias)) / 2, labels, EMOTIONS)
        by_strength[strength] = {"accuracy": scores.accuracy, "mean_recall": scores.mean_recall}
    recall = {k: np.nan_to_num(v["mean_recall"]) for k, v in by_strength.items()}
    enough = [k for k in PRIOR_STRENGTHS if recall[k] >= MIN_MEAN_RECALL]
    chosen = min(enough) if enough else max(PRIOR_STRENGTHS, key=recall.get)
    return chosen, bias_of(chosen), by_strength


@torch.no_grad()
def predict_logits(net: ExpressionNet, crops: torch.Tensor, batch_size: int = 256):
    """Logits of both heads for the crops and for their mirror images, as NumPy arrays."""
    net.eval()
    parts: list[list[torch.Tensor]] = [[], [], [], []]
    for batch in crops.split(batch_size):
        images = batch.float()
        for k, view in enumerate((images, images.flip(3))):
            expression_logits, fer2013_logits = net(view.contiguous(memory_format=torch.channels_last))
            parts[k].append(expression_logits)
            parts[k + 2].append(fer2013_logits)
    return tuple(torch.cat(p).numpy() for p in parts)


def _loss(expression_logits, fer2013_logits, targets, fer2013, fer2013_weight: float) -> torch.Tensor:
    """Cross-entropy against the vote distribution, plus the FER2013-label head where labelled."""
    has_target = targets.sum(dim=1) > 0
    soft = -(targets * F.log_softmax(expression_logits, dim=1)).sum(dim=1)
    loss = (soft * has_target).sum() / has_target.sum().clamp(min=1)
    labelled = fer2013 >= 0
    if labelled.any():
        loss = loss + fer2013_weight * F.cross_entropy(fer2013_logits[labelled], fer2013[labelled])
    return loss


def _set_learning_rate(optimizer, config: TrainConfig, step: int, steps_per_epoch: int) -> None:
    total = config.epochs * steps_per_epoch
    if step < steps_per_epoch:
        rate = config.learning_rate * (step + 1) / steps_per_epoch
    else:
        progress = (step - steps_per_epoch) / max(1, total - steps_per_epoch)
        rate = config.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))
    for group in optimizer.param_groups:
        group["lr"] = rate


def _comparable(config: TrainConfig) -> dict:
    """Settings that must match to resume (where the output goes and thread counts may change)."""
    return {k: v for k, v in asdict(config).items() if k not in ("out", "threads", "align_workers", "stop_after")}


def _save_atomically(obj, path: Path) -> None:
    partial = path.with_suffix(".part")
    torch.save(obj, partial)
    partial.replace(path)


def _write_history(history: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
