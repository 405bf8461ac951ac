"""Redraw the paper's figures from a claim's ``figures[*]`` entries (matplotlib, embedded as PNG).

Each entry follows ``docs/reproduction-schema.md``::

    {"id": "fig2-left", "title": "...", "kind": "line" | "bar" | "scatter",
     "x_label": "...", "y_label": "...",
     "series": [{"label": "...", "x": [...], "y": [...], "yerr": [...]?, "c": [...]?, "panel": "..."?}],
     "paper":  [{"label": "...", "x": [...], "y": [...]}]?}

- ``line``: one line per series, ``yerr`` as a shaded band (mean ± spread over seeds); paper reference
  series dashed in grey. When the paper's x range is far larger than ours (1000 paper epochs vs a
  20-epoch profile) the paper series get their own top x axis so both curves stay readable.
- ``bar``: grouped bars, categories from ``x`` (text or numbers), ``yerr`` as error bars; paper values
  as hatched bars beside ours.
- ``scatter``: a grid of panels, rows = series label (sample / class / superclass for Fig. 1),
  columns = ``panel`` (before / after); points coloured *and* shaped by their label ``c``.

Every series also differs by marker/line style, so a figure reads in greyscale. A malformed entry raises
:class:`FigureDataError` naming the problem; :func:`figure_html` turns that into a visible note.

Bounded size: a figure's drawing time grows with its panels, series and points, and a JSON may hold any number
(3,600 scatter panels ran for minutes and gigabytes). :func:`bound_figure` keeps at most
:data:`MAX_SCATTER_PANELS` scatter panels (:data:`MAX_SCATTER_COLS` columns), :data:`MAX_SERIES` line/bar series,
:data:`MAX_BAR_CATEGORIES` bars and :data:`MAX_POINTS` points per series (an even, deterministic subsample);
:func:`figure_html` says under the figure what was left out.
"""
from __future__ import annotations

import base64
import html
import io
import math
import re
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: never open a window, whatever the user's MPLBACKEND says
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

KINDS = ("line", "bar", "scatter")
# Distinct markers and dashes so series differ without colour.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
_DASHES = ("-", "--", "-.", ":")
_PAPER_COLOR = "0.45"
_DPI = 110


MAX_SCATTER_COLS = 4  # scatter panel columns drawn (Fig. 1 has 2: before / after)
MAX_SCATTER_PANELS = 12  # scatter panels drawn per figure (rows x columns; Fig. 1 has 6)
MAX_SERIES = 12  # line / bar series drawn per figure, ours and the paper's each
MAX_BAR_CATEGORIES = 40  # bars per series
MAX_POINTS = 2000  # points per line series or scatter panel


class FigureDataError(ValueError):
    """A figure entry cannot be drawn (unknown kind, mismatched lengths, no data); says which."""


def paper_figure_label(fig_id: Any) -> str | None:
    """``"fig2-left"`` -> ``"Fig. 2 (left)"``; ``"fig8-9"`` -> ``"Figs. 8-9"``; None if not of that form.

    >>> paper_figure_label("fig2-left"), paper_figure_label("fig10"), paper_figure_label("x")
    ('Fig. 2 (left)', 'Fig. 10', None)
    """
    if not isinstance(fig_id, str):
        return None
    m = re.fullmatch(r"fig(?:ure)?[-_ ]?(\d+)(?:[-_](\d+))?(?:[-_]([a-z][a-z0-9_-]*))?", fig_id.strip().lower())
    if not m:
        return None
    num, num2, part = m.groups()
    head = f"Figs. {num}-{num2}" if num2 else f"Fig. {num}"
    return f"{head} ({part.replace('-', ' ').replace('_', ' ')})" if part else head


def figure_title(fig: Mapping) -> str:
    """The display title: ``"Fig. 2 (left) — Normalized NCC train accuracy"`` (paper figure named first)."""
    title = str(fig.get("title") or "").strip()
    label = paper_figure_label(fig.get("id"))
    if label and not title.lower().startswith("fig"):
        return f"{label} — {title}" if title else label
    return title or label or str(fig.get("id") or "untitled figure")


def _numbers(values: Any, what: str, allow_none: bool = True) -> list[float]:
    if not isinstance(values, (list, tuple)):
        raise FigureDataError(f"{what} is {type(values).__name__}, expected a list of numbers")
    out = []
    for v in values:
        if v is None and allow_none:
            out.append(math.nan)  # a gap in the curve (e.g. a checkpoint that was not measured)
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise FigureDataError(f"{what} holds {v!r}, expected numbers")
        else:
            out.append(float(v))
    return out


def _series_list(fig: Mapping, key: str) -> list[Mapping]:
    raw = fig.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(s, Mapping) for s in raw):
        raise FigureDataError(f"'{key}' must be a list of objects with x and y")
    return raw


def _xy(s: Mapping, where: str, numeric_x: bool = True) -> tuple[list, list[float], list[float] | None]:
    label = s.get("label", "?")
    if "y" not in s:
        raise FigureDataError(f"{where} series {label!r} has no 'y' values")
    y = _numbers(s["y"], f"{where} series {label!r} y")
    x_raw = s.get("x", list(range(len(y))))
    x = _numbers(x_raw, f"{where} series {label!r} x") if numeric_x else list(x_raw) if isinstance(x_raw, (list, tuple)) else None
    if x is None:
        raise FigureDataError(f"{where} series {label!r} x must be a list")
    if len(x) != len(y):
        raise FigureDataError(f"{where} series {label!r} has {len(x)} x values and {len(y)} y values")
    yerr = None
    if s.get("yerr") is not None:
        yerr = _numbers(s["yerr"], f"{where} series {label!r} yerr")
        if len(yerr) != len(y):
            raise FigureDataError(f"{where} series {label!r} has {len(yerr)} yerr values for {len(y)} y values")
    return x, y, yerr


def _finite_span(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return (max(finite) - min(finite)) if len(finite) > 1 else 0.0


def _draw_line(fig: Mapping, f: Figure) -> None:
    ax = f.add_subplot(1, 1, 1)
    ours = _series_list(fig, "series")
    paper = _series_list(fig, "paper")
    if not ours and not paper:
        raise FigureDataError("no series to draw")
    our_x: list[float] = []
    for i, s in enumerate(ours):
        x, y, yerr = _xy(s, "our")
        our_x += x
        line, = ax.plot(x, y, marker=_MARKERS[i % len(_MARKERS)], linestyle=_DASHES[i % len(_DASHES)],
                        markersize=4, linewidth=1.6, label=str(s.get("label", f"series {i + 1}")))
        if yerr is not None:
            lo = [a - b for a, b in zip(y, yerr)]
            hi = [a + b for a, b in zip(y, yerr)]
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.18, linewidth=0)
    ax.set_xlabel(str(fig.get("x_label") or ""))
    ax.set_ylabel(str(fig.get("y_label") or ""))
    if paper:
        paper_xy = [_xy(s, "paper") for s in paper]
        paper_x = [v for x, _, _ in paper_xy for v in x]
        # The paper ran 1000 epochs, a small profile 10-50: one shared axis would squash our curve.
        own_axis = bool(our_x) and _finite_span(paper_x) > 3 * max(_finite_span(our_x), 1e-12)
        pax = ax.twiny() if own_axis else ax
        for i, ((x, y, yerr), s) in enumerate(zip(paper_xy, paper)):
            pax.plot(x, y, color=_PAPER_COLOR, marker=_MARKERS[(i + 5) % len(_MARKERS)], markerfacecolor="white",
                     markersize=4, linestyle="--", linewidth=1.2, label=str(s.get("label", f"paper {i + 1}")))
        if own_axis:
            pax.set_xlabel(f"paper: {fig.get('x_label') or 'x'} (top axis)", color=_PAPER_COLOR, fontsize=8)
            pax.tick_params(axis="x", colors=_PAPER_COLOR, labelsize=8)
            h1, l1 = ax.get_legend_handles_labels()
            h2, l2 = pax.get_legend_handles_labels()
            ax.legend(h1 + h2, l1 + l2, fontsize=8, frameon=False)
            return
    ax.legend(fontsize=8, frameon=False)


def _draw_bar(fig: Mapping, f: Figure) -> None:
    ax = f.add_subplot(1, 1, 1)
    groups = [(s, False) for s in _series_list(fig, "series")] + [(s, True) for s in _series_list(fig, "paper")]
    if not groups:
        raise FigureDataError("no series to draw")
    parsed = [(_xy(s, "paper" if is_paper else "our", numeric_x=False), s, is_paper) for s, is_paper in groups]
    categories: list = []
    for (x, _, _), _, _ in parsed:
        for c in x:
            if str(c) not in categories:
                categories.append(str(c))
    n = len(parsed)
    width = 0.8 / n
    hatches = ("", "..", "xx", "\\\\", "++", "--")
    for i, ((x, y, yerr), s, is_paper) in enumerate(parsed):
        pos = [categories.index(str(c)) - 0.4 + width * (i + 0.5) for c in x]
        kwargs: dict[str, Any] = {"label": str(s.get("label", f"series {i + 1}"))}
        if is_paper:
            kwargs.update(color="white", edgecolor=_PAPER_COLOR, hatch="//")
        else:
            kwargs.update(hatch=hatches[i % len(hatches)], edgecolor="black", linewidth=0.6)
        ax.bar(pos, [0.0 if math.isnan(v) else v for v in y], width=width * 0.95, yerr=yerr,
               capsize=3 if yerr is not None else 0, **kwargs)
    ax.set_xticks(range(len(categories)), categories, fontsize=8)
    ax.set_xlabel(str(fig.get("x_label") or ""))
    ax.set_ylabel(str(fig.get("y_label") or ""))
    ax.legend(fontsize=8, frameon=False)


def _scatter_layout(series: list[Mapping]) -> tuple[list[str], list[str]]:
    rows: list[str] = []
    cols: list[str] = []
    for s in series:
        r, c = str(s.get("label", "")), str(s.get("panel", ""))
        if r not in rows:
            rows.append(r)
        if c not in cols:
            cols.append(c)
    return rows, cols


def _draw_scatter(fig: Mapping, f: Figure) -> None:
    series = _series_list(fig, "series")
    if not series:
        raise FigureDataError("no scatter series to draw")
    rows, cols = _scatter_layout(series)
    f.set_size_inches(3.0 * len(cols) + 1.2, 2.6 * len(rows) + 0.6)
    cmap = plt.get_cmap("tab10")
    for s in series:
        x, y, _ = _xy(s, "scatter")
        c = s.get("c")
        if c is None:
            c = [0] * len(x)
        if not isinstance(c, list) or len(c) != len(x):
            raise FigureDataError(f"scatter series {s.get('label')!r}: 'c' must be a list of {len(x)} labels")
        r, col = rows.index(str(s.get("label", ""))), cols.index(str(s.get("panel", "")))
        ax = f.add_subplot(len(rows), len(cols), r * len(cols) + col + 1)
        labels = sorted({str(v) for v in c}, key=lambda v: (not v.lstrip("-").isdigit(), int(v) if v.lstrip("-").isdigit() else 0, v))
        for k, lab in enumerate(labels):
            idx = [i for i, v in enumerate(c) if str(v) == lab]
            # Colour and marker both encode the label: the panel stays readable in greyscale.
            ax.scatter([x[i] for i in idx], [y[i] for i in idx], s=7, color=cmap(k % 10),
                       marker=_MARKERS[k % len(_MARKERS)], linewidths=0, alpha=0.8, label=lab)
        if col == len(cols) - 1 and len(labels) <= 10:
            # One key per row (its labels differ from the other rows'), beside the last panel.
            ax.legend(title=str(s.get("label") or "label"), fontsize=6, title_fontsize=7, markerscale=1.6,
                      loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.set_title(" — ".join(p for p in (s.get("label"), s.get("panel")) if p), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if fig.get("x_label") or fig.get("y_label"):
        f.supxlabel(str(fig.get("x_label") or ""), fontsize=8)
        f.supylabel(str(fig.get("y_label") or ""), fontsize=8)


_DRAW = {"line": _draw_line, "bar": _draw_bar, "scatter": _draw_scatter}


def _thin(values: Any, keep: int) -> Any:
    """An even subsample of ``keep`` items of a list (first and last kept); anything else unchanged."""
    if not isinstance(values, list) or len(values) <= keep:
        return values
    step = (len(values) - 1) / (keep - 1)
    return [values[round(i * step)] for i in range(keep)]


def bound_figure(fig: Any) -> tuple[Any, list[str]]:
    """``fig`` cut to the drawing bounds (module docstring) and one note per cut; ``(fig, [])`` when it fits.

    Deterministic. A malformed entry passes through unchanged, for :func:`figure_png` to name its problem.
    """
    if not isinstance(fig, Mapping):
        return fig, []
    kind = fig.get("kind")
    notes: list[str] = []
    out = dict(fig)
    for key in ("series", "paper"):
        series = fig.get(key)
        if not isinstance(series, list) or not all(isinstance(s, Mapping) for s in series):
            continue
        if kind == "scatter" and key == "series":
            rows, cols = _scatter_layout(series)
            keep_cols = cols[:MAX_SCATTER_COLS]
            keep_rows = rows[:max(1, MAX_SCATTER_PANELS // len(keep_cols))]
            kept = [s for s in series if str(s.get("label", "")) in keep_rows and str(s.get("panel", "")) in keep_cols]
            if len(kept) < len(series):
                notes.append(f"showing {len(keep_rows)} x {len(keep_cols)} of {len(rows)} x {len(cols)} panels")
            series = kept
        elif kind in ("line", "bar") and len(series) > MAX_SERIES:
            notes.append(f"showing the first {MAX_SERIES} of {len(series)} {'paper ' if key == 'paper' else ''}series")
            series = series[:MAX_SERIES]
        cap = MAX_BAR_CATEGORIES if kind == "bar" else MAX_POINTS
        longest = max((len(s["y"]) for s in series if isinstance(s.get("y"), list)), default=0)
        if longest > cap:
            notes.append(f"at most {cap} of up to {longest} points per series (an even subsample)")
            series = [{**s, **{k: _thin(s[k], cap) for k in ("x", "y", "yerr", "c") if k in s}} for s in series]
        out[key] = series
    return out, notes


def figure_png(fig: Mapping) -> bytes:
    """Draw one figure entry, cut to the bounds of :func:`bound_figure`, and return PNG bytes (deterministic: no
    timestamp in the metadata)."""
    if not isinstance(fig, Mapping):
        raise FigureDataError(f"a figure entry is a {type(fig).__name__}, expected an object")
    fig, _ = bound_figure(fig)
    kind = fig.get("kind")
    if kind not in _DRAW:
        raise FigureDataError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    ys = [v for key in ("series", "paper") for sr in _series_list(fig, key) if isinstance(sr.get("y"), list)
          for v in sr["y"]]
    numeric = all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in ys)
    if ys and numeric and not any(v is not None and math.isfinite(v) for v in ys):
        # An all-NaN panel would look like a drawn result; say instead that nothing was measured.
        raise FigureDataError("no finite y values (all missing or NaN)")
    f = Figure(figsize=(6.4, 3.6), dpi=_DPI, layout="constrained")
    try:
        _DRAW[kind](fig, f)
        f.suptitle(figure_title(fig), fontsize=10)
        buf = io.BytesIO()
        f.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
        return buf.getvalue()
    finally:
        f.clear()


def figure_html(fig: Any, anchor: str) -> str:
    """One ``<figure>``: the PNG as a ``data:`` URI plus a caption, or a visible note when it cannot be drawn."""
    title = figure_title(fig) if isinstance(fig, Mapping) else "figure"
    esc_title = html.escape(title)
    fig, cuts = bound_figure(fig)
    try:
        png = figure_png(fig)
    except Exception as e:  # noqa: BLE001 - one bad figure (or a matplotlib limit) must not sink the report
        # Partial/older files must still render: say which figure is missing and why, keep going.
        why = str(e) if isinstance(e, FigureDataError) else f"{type(e).__name__}: {e}"
        return (f'<figure class="figure missing" id="{html.escape(anchor)}"><div class="figure-note">'
                f"Figure not drawn: {esc_title} — {html.escape(why)}</div></figure>")
    data = base64.b64encode(png).decode("ascii")
    notes = []
    if isinstance(fig, Mapping) and fig.get("paper"):
        notes.append("grey dashed / hatched = the paper's values")
    if isinstance(fig, Mapping) and any(isinstance(s, Mapping) and s.get("yerr") is not None
                                        for s in (fig.get("series") or [])):
        notes.append("bands / bars = spread over seeds")
    note = f' <span class="figure-key">({"; ".join(notes)})</span>' if notes else ""
    summarised = ""
    if cuts:
        summarised = (f'<div class="warn figure-summarised">Summarised: this figure holds more than the report draws '
                      f'— {html.escape("; ".join(cuts))}. The full data are in the JSON.</div>')
    return (f'<figure class="figure" id="{html.escape(anchor)}">'
            f'<img src="data:image/png;base64,{data}" alt="{esc_title}">'
            f"<figcaption>{esc_title}{note}</figcaption>{summarised}</figure>")
