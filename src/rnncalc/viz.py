"""Figures: each function turns training logs, metrics or `probe` data into a matplotlib Figure.

Nothing here trains, loads a model or shows a window; `save` writes a figure as PNG,
or SVG when the name ends in .svg. Figures are made with `matplotlib.figure.Figure`
directly, so no pyplot state or GUI backend is touched: PNG is drawn by Agg.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, NullFormatter

from .probe import Activations, StateMap, StepProbs
from .vocab import END

# (history key, legend label, line style): the three per-epoch sequence errors.
_ERROR_SERIES = (
    ("train_err_tf", "train, teacher-forced", "--"),
    ("test_err_tf", "test, teacher-forced", ":"),
    ("test_err", "test, free-running", "-"),
)


def _label(symbol: str) -> str:
    """END is a space; spell it out so that it shows on an axis."""
    return "END" if symbol == END else symbol


def _pct(wrong: int, n: int) -> str:
    """Accuracy as a percentage that never rounds up to 100% while something is wrong."""
    if wrong == 0:
        return "100%"
    if wrong == n:
        return "0%"
    acc, digits = 100 * (1 - wrong / n), 2
    while round(acc, digits) >= 100:
        digits += 1
    return f"{acc:.{digits}f}%"


def curves(history: list[dict]) -> Figure:
    """Training log, one dict per epoch (checkpoint metrics["history"]) -> 2 panels:
    loss (log scale) and the three sequence errors in % (log scale) against epoch."""
    if not history:
        raise ValueError("no training history to plot")
    if not all(isinstance(row, dict) and {"epoch", "loss"} <= set(row) for row in history):
        raise ValueError("every history row needs 'epoch' and 'loss'")
    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    loss_ax, err_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, [row["loss"] for row in history], marker=".", color="C0")
    loss_ax.set(yscale="log", xlabel="epoch", ylabel="cross-entropy per answer symbol",
                title="Training loss")

    series = []  # (values in %, label, style) for each error the history has
    for key, label, style in _ERROR_SERIES:
        if not any(key in row for row in history):
            continue
        values = np.array([100 * row.get(key, math.nan) for row in history], dtype=float)
        if key == "test_err":
            best = min((row for row in history if key in row), key=lambda row: row[key])
            label += f" (best {100 * best[key]:.3g}% at epoch {best['epoch']})"
        series.append((values, label, style))
    log = any((values > 0).any() for values, _, _ in series)
    zero = any((values == 0).any() for values, _, _ in series)
    for values, label, style in series:
        # Zero error has no place on a log scale: those points are left out (NaN).
        err_ax.plot(epochs, np.where(log & (values == 0), math.nan, values), style, marker=".", label=label)
    if log:
        err_ax.set_yscale("log")
        err_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
        err_ax.yaxis.set_minor_formatter(NullFormatter())
    err_ax.set(xlabel="epoch", ylabel="problems with any answer symbol wrong",
               title="Sequence error" + (" (epochs at 0% are off the log scale)" if log and zero else ""))
    if series:
        err_ax.legend(fontsize=8)
    for ax in (loss_ax, err_ax):
        ax.grid(True, which="major", alpha=0.3)
    return fig


def activations(act: Activations) -> Figure:
    """Hidden states as heatmaps, one row per step: 2L panels (encoder layers, then decoder
    layers) over the H hidden units, labelled with the symbol read or emitted, plus a colour bar."""
    L, S, H = act.enc.shape
    T = act.dec.shape[1]
    panels = [(act.enc[l], act.enc_symbols, f"encoder\nlayer {l + 1}\nreads") for l in range(L)]
    panels += [(act.dec[l], [_label(s) for s in act.dec_symbols], f"decoder\nlayer {l + 1}\nemits")
               for l in range(L)]
    # Height grows with the rows shown, so a row stays about the same size for any model.
    fig = Figure(figsize=(10, 1.4 + 0.28 * L * (S + T) + 0.3 * L), layout="constrained")
    grid = fig.add_gridspec(2 * L, 1, height_ratios=[S] * L + [T] * L)
    axes = []
    for i, (h, symbols, name) in enumerate(panels):
        ax = fig.add_subplot(grid[i], sharex=axes[0] if axes else None)
        # LSTM, GRU and tanh-RNN hidden states all lie in (-1, 1): one fixed scale for every panel.
        image = ax.imshow(np.asarray(h), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto",
                          interpolation="nearest")
        ax.set_yticks(range(len(symbols)), symbols)
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9, labelpad=12)
        ax.tick_params(labelbottom=i == len(panels) - 1)
        axes.append(ax)
    axes[-1].set_xlabel("hidden unit")
    fig.colorbar(image, ax=axes, label="activation (h)", shrink=0.8)
    answer = "".join(s for s in act.dec_symbols if s != END)
    read = "".join(act.enc_symbols)
    fig.suptitle(f"{act.expr} = {answer}: hidden states step by step"
                 + (f" (the encoder reads it reversed, {read})" if read != act.expr else ""))
    return fig


def probs(sp: StepProbs) -> Figure:
    """The decoder's next-symbol probabilities (T_len, V) as an annotated heatmap with the
    chosen symbol outlined at each step, plus a colour bar (2 axes)."""
    p = np.asarray(sp.probs)
    T, V = p.shape
    fig = Figure(figsize=(0.62 * V + 2.6, 0.55 * T + 1.9), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(p, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for t in range(T):
        for v in range(V):
            if p[t, v] >= 0.01:  # blank cells let the few likely symbols stand out
                ax.text(v, t, f"{p[t, v]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if p[t, v] > 0.6 else "black")
        chosen = sp.symbols.index(sp.emitted[t])
        ax.add_patch(Rectangle((chosen - 0.5, t - 0.5), 1, 1, fill=False, edgecolor="C3", linewidth=2))
    ax.set_xticks(range(V), [_label(s) for s in sp.symbols])
    ax.set_yticks(range(T), [f"step {t + 1}: {_label(s)}" for t, s in enumerate(sp.emitted)])
    ax.set(xlabel="next symbol", ylabel="decoder step: symbol emitted")
    answer = "".join(s for s in sp.emitted if s != END)
    ax.set_title(f"{sp.expr} = {answer}: next-symbol probabilities, free-running\n"
                 f"(red box: the symbol chosen; values under 0.01 left blank)", fontsize=10)
    fig.colorbar(image, ax=ax, label="probability")
    return fig


def states(sm: StateMap) -> Figure:
    """Encoder final states in 2-D: 2 scatter panels, coloured by true result and by number
    of carries, each with a colour bar (4 axes)."""
    xy = np.asarray(sm.xy)
    carries = np.asarray(sm.carries)
    fig = Figure(figsize=(12, 5.2), layout="constrained")
    # Same points, same axes: the two colourings can be compared point by point.
    by_result, by_carries = fig.subplots(1, 2, sharex=True, sharey=True)
    style = dict(s=7, alpha=0.8, linewidths=0)
    points = by_result.scatter(xy[:, 0], xy[:, 1], c=np.asarray(sm.results), cmap="viridis", **style)
    fig.colorbar(points, ax=by_result, label="true result a + b")
    # Carries are a small count: one distinct colour per value, ticks on the integers.
    k = int(carries.max()) + 1 if len(carries) else 1
    cmap = ListedColormap(colormaps["plasma"](np.linspace(0.05, 0.85, k)))
    points = by_carries.scatter(xy[:, 0], xy[:, 1], c=carries, cmap=cmap,
                                norm=BoundaryNorm(np.arange(k + 1) - 0.5, k), **style)
    fig.colorbar(points, ax=by_carries, label="carries in a + b", ticks=range(k))
    ex = np.asarray(sm.explained)
    for ax, title in ((by_result, "coloured by the true result"), (by_carries, "coloured by carries")):
        ax.set(xlabel=f"principal axis 1 ({ex[0]:.0%} of variance)",
               ylabel=f"principal axis 2 ({ex[1]:.0%} of variance)", title=title)
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"Encoder's final top-layer state for {len(xy):,} problems, projected by PCA")
    return fig


def errors(metrics: dict) -> Figure:
    """Free-running accuracy by result length and by carries, from `Metrics.to_dict()`:
    2 bar panels, each bar labelled with its accuracy and how many it got wrong."""
    if not metrics.get("n"):
        raise ValueError("no evaluated problems to plot")
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, key, xlabel, title in ((axes[0], "by_length", "digits in the result", "by result length"),
                                   (axes[1], "by_carries", "carries in the addition", "by carries")):
        rows = sorted(metrics[key].items(), key=lambda kv: int(kv[0]))
        names = [k for k, _ in rows]
        counts = [n for _, (n, _) in rows]
        wrongs = [w for _, (_, w) in rows]
        # Bars start at 0 (a cut axis would blow up tiny differences); the labels carry the precision.
        bars = ax.bar(names, [100 * (1 - w / n) for n, w in zip(counts, wrongs)],
                      color=["C2" if w == 0 else "C1" for w in wrongs], width=0.6)
        ax.bar_label(bars, [f"{_pct(w, n)}\n{w:,} wrong of {n:,}" for n, w in zip(counts, wrongs)],
                     padding=3, fontsize=8)
        ax.set(xlabel=xlabel, ylim=(0, 122), yticks=range(0, 101, 20), title=title)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].set_ylabel("free-running exact match (%)")
    fig.suptitle(f"Accuracy {_pct(metrics['wrong'], metrics['n'])} on {metrics['n']:,} problems "
                 f"({metrics['wrong']:,} wrong; green: none wrong)")
    return fig


def save(fig: Figure, path: str | os.PathLike) -> Path:
    """Write fig to path: SVG if the name ends in .svg, else PNG. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".svg":
        fig.savefig(path, format="svg", metadata={"Date": None})  # no date: reproducible files
    else:
        fig.savefig(path, format="png", dpi=150)  # sharp on high-density screens
    return path
