"""The reliability plot of a run's confidence: share of mentions correct against mean confidence
per bin, raw and calibrated, beside the diagonal of perfect calibration (PNG, axes 0 to 1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from allabel.quality.calibration import reliability


def reliability_plot(conf: np.ndarray, calibrated: np.ndarray, correct: np.ndarray, title: str,
                     path: Path) -> Path:
    # matplotlib is deferred: only the plot needs it (and the Agg backend must be chosen first)
    import matplotlib  # deferred: matplotlib takes seconds to import, only for plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: matplotlib takes seconds to import, only for plots

    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=110)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    for values, name, style in ((conf, "raw confidence", "o-"), (calibrated, "calibrated", "s--")):
        pts = reliability(values, correct)
        if pts:
            x, y, n = zip(*pts, strict=True)
            ax.plot(x, y, style, label=f"{name}")
            for xi, yi, ni in pts:
                ax.annotate(str(ni), (xi, yi), textcoords="offset points", xytext=(3, 3), fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (mean per bin)")
    ax.set_ylabel("share of mentions correct")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
