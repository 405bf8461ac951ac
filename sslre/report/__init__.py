"""The reproduction report: ``reproduction.json`` -> one self-contained ``reproduction.html``."""
from sslre.report.load import ReportError

__all__ = ["ReportError", "render_report"]


def render_report(json_path, output_path=None):
    """See :func:`sslre.report.html.render_report` (imported lazily: matplotlib is only loaded when rendering)."""
    from sslre.report.html import render_report as _render

    return _render(json_path, output_path)
