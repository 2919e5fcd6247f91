"""Classification metrics from predictions: top-1, per-class precision/recall/F1, confusion matrix.

Shared by every task whose model scores classes (classify, signal). A class with no sample in the
split is not measured (``None``): its recall is unknown, not 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from train.evaluation import EvalReport


def confusion_matrix(targets: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (targets, predictions), 1)
    return matrix


def classification_report(targets: np.ndarray, predictions: np.ndarray, classes: list[str]) -> EvalReport:
    matrix = confusion_matrix(
        np.asarray(targets, dtype=np.int64), np.asarray(predictions, dtype=np.int64), len(classes)
    )
    true_positive = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    precision = np.divide(true_positive, predicted, out=np.zeros_like(true_positive), where=predicted > 0)
    recall = np.divide(true_positive, actual, out=np.zeros_like(true_positive), where=actual > 0)
    denominator = precision + recall
    f1 = np.divide(
        2 * precision * recall, denominator, out=np.zeros_like(true_positive), where=denominator > 0
    )
    return EvalReport(
        metric="top1",
        value=float(true_positive.sum() / max(matrix.sum(), 1)),
        samples=int(matrix.sum()),
        per_class={
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            if s
            else None
            for name, p, r, f, s in zip(classes, precision, recall, f1, actual, strict=True)
        },
        confusion=matrix.tolist(),
    )


def scores_agreement(expected: list[np.ndarray], actual: list[np.ndarray]) -> tuple[int, int, float]:
    """Parity of class scores: equal top classes, and the largest score difference."""
    want, got = np.asarray(expected[0]), np.asarray(actual[0])
    return int((want.argmax(1) == got.argmax(1)).sum()), len(want), float(np.abs(want - got).max())


def plot_confusion_matrix(matrix: np.ndarray, classes: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 * len(classes) + 2, 1.1 * len(classes) + 1.5))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=35, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for (row, col), value in np.ndenumerate(matrix):
        ax.text(
            col,
            row,
            str(value),
            ha="center",
            va="center",
            color="white" if value > matrix.max() / 2 else "black",
        )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
