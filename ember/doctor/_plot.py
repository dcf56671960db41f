"""The doctor's picture: loss and per-tensor gradient norms over the steps, diagnoses marked."""
from __future__ import annotations

import math
import sys


def plot(doc, path: str | None = None):
    """Save the picture to ``path`` (a PNG) and return it; without a path, show it in Jupyter."""
    # matplotlib and IPython are optional dependencies, imported only when a picture is asked for
    import matplotlib
    if path is not None or "IPython" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(7, 5))
    steps = range(1, len(doc.losses) + 1)
    ax1.plot(steps, [x if math.isfinite(x) else math.nan for x in doc.losses], "C0-")
    ax1.set_ylabel("loss")
    if any(x > 0 and math.isfinite(x) for x in doc.losses):
        ax1.set_yscale("log")
    for i, (name, series) in enumerate(doc.layer_norms.items()):
        if i >= 10:  # more lines than a reader can tell apart
            break
        xs = [s for s, v in series if v > 0 and math.isfinite(v)]
        ys = [v for s, v in series if v > 0 and math.isfinite(v)]
        if xs:
            ax2.plot(xs, ys, label=name, lw=1)
    ax2.set_yscale("log")
    ax2.set_ylabel("gradient norm")
    ax2.set_xlabel("step (backward pass)")
    if doc.layer_norms:
        ax2.legend(fontsize=7, loc="best")
    for k, d in enumerate(doc.diagnoses):
        for ax in (ax1, ax2):
            ax.axvline(max(d.step, 1), color=f"C{3 + k % 6}", ls="--", lw=1)
        ax1.annotate(d.code, (max(d.step, 1), 1), xycoords=("data", "axes fraction"),
                     rotation=90, va="top", ha="right", fontsize=8, color=f"C{3 + k % 6}")
    ax1.set_title("ember doctor")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path
    try:
        from IPython.display import display
        display(fig)
        plt.close(fig)
    except ImportError:
        pass
    return fig
