"""sslre.report.figures: the paper's figures redrawn from figures[*] entries."""
import struct

import pytest
from matplotlib.figure import Figure

from sslre.report.figures import (FigureDataError, _draw_line, figure_html, figure_png, figure_title,
                                  paper_figure_label)


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])  # IHDR width, height


LINE = {"id": "fig2-left", "title": "Normalized NCC train accuracy", "kind": "line", "x_label": "epoch",
        "y_label": "acc / init", "series": [{"label": "sample", "x": [0, 1, 2], "y": [1.0, 1.5, 1.6]},
                                            {"label": "class", "x": [0, 1, 2], "y": [1.0, 1.1, 1.3]}]}


@pytest.mark.parametrize("fig_id, expected", [
    ("fig2-left", "Fig. 2 (left)"), ("fig10", "Fig. 10"), ("fig4-left-and-middle", "Fig. 4 (left and middle)"),
    ("fig8-9", "Figs. 8-9"), ("Figure5", "Fig. 5"), ("umap", None), (None, None), (3, None),
])
def test_paper_figure_label(fig_id, expected):
    assert paper_figure_label(fig_id) == expected


def test_figure_title_names_the_paper_figure_first():
    assert figure_title(LINE) == "Fig. 2 (left) — Normalized NCC train accuracy"
    assert figure_title({"id": "fig3", "title": "Fig. 3 as given"}) == "Fig. 3 as given"
    assert figure_title({"id": "custom"}) == "custom"
    assert figure_title({}) == "untitled figure"


def test_line_png_has_expected_size_and_is_deterministic():
    png = figure_png(LINE)
    assert png_size(png) == (704, 396)  # 6.4 x 3.6 in at 110 dpi
    assert figure_png(LINE) == png


def test_yerr_band_changes_the_drawing():
    with_err = {**LINE, "series": [{**LINE["series"][0], "yerr": [0.0, 0.2, 0.2]}]}
    without = {**LINE, "series": [LINE["series"][0]]}
    assert figure_png(with_err) != figure_png(without)


def test_paper_series_on_far_larger_x_range_get_their_own_axis():
    f = Figure()
    _draw_line({**LINE, "paper": [{"label": "paper", "x": [0, 100, 1000], "y": [1, 5, 9]}]}, f)
    assert len(f.axes) == 2  # twin top axis for the paper's 1000 epochs
    f = Figure()
    _draw_line({**LINE, "paper": [{"label": "paper", "x": [0, 1, 2], "y": [1, 5, 9]}]}, f)
    assert len(f.axes) == 1  # same scale: drawn on our axis


def test_bar_with_text_categories_and_paper_values():
    fig = {"id": "fig3-right", "kind": "bar", "series": [
        {"label": "NCC train", "x": ["SSL", "sup"], "y": [0.5, 1.0], "yerr": [0.02, 0.0]}],
        "paper": [{"label": "paper", "x": ["SSL", "sup"], "y": [0.41, 1.0]}]}
    assert png_size(figure_png(fig))[0] > 0


def test_scatter_grid_grows_with_panels():
    def panel(level, when):
        return {"label": level, "panel": when, "x": [0.0, 1.0, 2.0], "y": [0.0, 1.0, 0.5], "c": [0, 1, 1]}

    one = figure_png({"id": "fig1", "kind": "scatter", "series": [panel("class", "before")]})
    six = figure_png({"id": "fig1", "kind": "scatter", "series": [
        panel(lv, w) for lv in ("sample", "class", "superclass") for w in ("before", "after")]})
    (w1, h1), (w6, h6) = png_size(one), png_size(six)
    assert w6 > w1 and h6 > 2 * h1


@pytest.mark.parametrize("fig, message", [
    ({"kind": "heatmap", "series": []}, "kind 'heatmap'"),
    ({"kind": "line", "series": []}, "no series"),
    ({"kind": "line", "series": [{"label": "a", "x": [0, 1], "y": [1.0]}]}, "2 x values and 1 y values"),
    ({"kind": "line", "series": [{"label": "a", "x": [0], "y": ["high"]}]}, "expected numbers"),
    ({"kind": "line", "series": [{"label": "a", "x": [0, 1], "y": [1, 2], "yerr": [0.1]}]}, "1 yerr values"),
    ({"kind": "line", "series": [{"label": "a", "x": [0]}]}, "no 'y'"),
    ({"kind": "scatter", "series": [{"label": "a", "x": [0, 1], "y": [1, 2], "c": [0]}]}, "'c' must be a list of 2"),
    ({"kind": "line", "series": "oops"}, "must be a list"),
    ("not a dict", "expected an object"),
    ({"kind": "line", "series": [{"label": "a", "x": [0, 1], "y": [None, float("nan")]}]}, "no finite y values"),
])
def test_malformed_figures_raise_naming_the_problem(fig, message):
    with pytest.raises(FigureDataError, match=message.replace("(", r"\(")):
        figure_png(fig)


def test_figure_html_embeds_png_or_shows_a_note():
    ok = figure_html(LINE, "claim-x-fig-1")
    assert '<img src="data:image/png;base64,' in ok and 'id="claim-x-fig-1"' in ok
    assert "Fig. 2 (left) — Normalized NCC train accuracy" in ok
    bad = figure_html({"id": "fig2-left", "kind": "line", "series": [{"label": "a", "x": [0, 1], "y": [1]}]}, "a")
    assert "<img" not in bad and "Figure not drawn" in bad and "2 x values and 1 y values" in bad


def test_none_values_are_gaps_not_errors():
    fig = {**LINE, "series": [{"label": "a", "x": [0, 1, 2], "y": [1.0, None, 1.2]}]}
    assert png_size(figure_png(fig))[0] > 0


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_matplotlib_failures_become_a_note_not_a_crash():
    # Values this far apart overflow matplotlib's tick computation (a ValueError inside matplotlib).
    out = figure_html({"id": "fig9", "kind": "line", "series": [{"label": "a", "x": [0, 1], "y": [1e308, -1e308]}]}, "a")
    assert "Figure not drawn: Fig. 9" in out and "<img" not in out


# --- bounded figures ------------------------------------------------------------------------------------------
def many_panels(rows=60, cols=60):
    """The issue's case: one scatter figure of rows x cols panels (3,600 ran for minutes at 2.3 GB)."""
    series = [{"label": f"level{r}", "panel": f"epoch{c}", "x": [0.1, 0.5], "y": [0.2, 0.4], "c": [0, 1]}
              for r in range(rows) for c in range(cols)]
    return {"id": "fig1", "title": "many panels", "kind": "scatter", "series": series}


def test_many_scatter_panels_are_summarised_with_a_warning():
    from sslre.report.figures import MAX_SCATTER_PANELS, bound_figure

    fig, notes = bound_figure(many_panels())
    assert len(fig["series"]) <= MAX_SCATTER_PANELS
    assert notes == ["showing 3 x 4 of 60 x 60 panels"]
    w, h = png_size(figure_png(many_panels()))
    assert w * h <= 2000 * 1200  # bounded, whatever the JSON holds
    out = figure_html(many_panels(), "a")
    assert "Summarised" in out and "showing 3 x 4 of 60 x 60 panels" in out


def test_many_series_and_points_are_bounded():
    from sslre.report.figures import MAX_POINTS, MAX_SERIES, bound_figure

    big = {"kind": "line", "series": [{"label": f"s{i}", "x": list(range(10_000)), "y": [0.5] * 10_000}
                                      for i in range(40)]}
    fig, notes = bound_figure(big)
    assert len(fig["series"]) == MAX_SERIES and all(len(s["x"]) == MAX_POINTS for s in fig["series"])
    assert fig["series"][0]["x"][0] == 0 and fig["series"][0]["x"][-1] == 9_999
    assert len(notes) == 2


def test_small_figures_are_untouched():
    from sslre.report.figures import bound_figure

    assert bound_figure(LINE) == (LINE, [])
