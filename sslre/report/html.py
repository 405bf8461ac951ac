"""Render ``reproduction.json`` into one self-contained ``reproduction.html``.

The page is built from the JSON alone (schema: ``docs/reproduction-schema.md``): inline CSS, figures as
``data:`` PNGs, no scripts and no network at view time. Verdicts carry a word and a symbol as well as a
colour, so the report reads in greyscale and in print. Missing keys are shown as "—" / "not recorded";
only a file that is not a reproduction JSON at all raises :class:`ReportError`.

Entry point: :func:`render_report` (used by ``sslre report`` and by the claims plugin).
"""
from __future__ import annotations

import html
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Mapping

from sslre import io
from sslre.report.figures import figure_html
from sslre.report.load import (CATALOGUE_IDS, MISSING, SCHEMA_VERSION, VERDICTS, ReportError, catalogue_field,
                               fmt_duration, fmt_number, load_reproduction, normalize_verdict)

__all__ = ["render_report", "render_html", "ReportError"]

_SYMBOL = {"supported": "✔", "refuted": "✘", "inconclusive": "≈", "not applicable": "∅", "not run": "○",
           "error": "⚠", "not recorded": "?"}

_CSS = """
:root { --fg:#1b1f24; --muted:#5b636d; --line:#d5d9de; --bg:#fff; --soft:#f5f6f8;
  --sup:#1a7f37; --sup-bg:#e6f4ea; --ref:#b42318; --ref-bg:#fdecea; --inc:#8a6100; --inc-bg:#fff4d6;
  --nr:#57606a; --nr-bg:#eef0f2; --err:#6e2bb0; --err-bg:#f1e8fb; --na:#1f5f8b; --na-bg:#e7f1f8; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg);
  font: 15px/1.55 "DejaVu Sans", "Liberation Sans", "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.7em; margin: 0.2em 0 0.1em; line-height: 1.25; }
h2 { font-size: 1.3em; margin: 2.2em 0 0.6em; padding-bottom: 0.2em; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.12em; margin: 0 0 0.4em; }
a { color: #0b5cad; }
code, .mono { font-family: "DejaVu Sans Mono", "Liberation Mono", Menlo, monospace; font-size: 0.88em; }
.subtitle { color: var(--muted); margin: 0 0 0.6em; }
nav.toc { margin: 0 0 1em; }
.banner { border: 2px dashed var(--ref); background: var(--ref-bg); padding: 10px 14px; margin: 12px 0;
  font-weight: bold; }
.warn { border-left: 4px solid var(--inc); background: var(--inc-bg); padding: 6px 12px; margin: 8px 0; }
dl.meta { display: grid; grid-template-columns: 11em 1fr; gap: 4px 16px; margin: 0; padding: 14px 16px;
  background: var(--soft); border: 1px solid var(--line); border-radius: 6px; }
dl.meta dt { font-weight: bold; color: var(--muted); }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.summary { display: flex; flex-wrap: wrap; gap: 10px; margin: 16px 0; }
.summary .count { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 8.5em; }
.summary .count b { font-size: 1.6em; display: block; line-height: 1.1; }
.verdict { display: inline-block; white-space: nowrap; font-weight: bold; border-radius: 4px; padding: 0 7px;
  border: 1px solid currentColor; }
.v-supported { color: var(--sup); background: var(--sup-bg); }
.v-refuted { color: var(--ref); background: var(--ref-bg); }
.v-inconclusive { color: var(--inc); background: var(--inc-bg); }
.v-not-applicable { color: var(--na); background: var(--na-bg); border-style: dotted; }
.v-not-run, .v-not-recorded, .v-unknown { color: var(--nr); background: var(--nr-bg); border-style: dashed; }
.v-error { color: var(--err); background: var(--err-bg); border-style: double; border-width: 3px; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
th, td { border: 1px solid var(--line); padding: 5px 7px; vertical-align: top; text-align: left; }
th { background: var(--soft); }
table.claims { table-layout: fixed; font-size: 0.86em; }
table.claims col.c-id { width: 11%; } table.claims col.c-ref { width: 8%; }
table.claims col.c-stmt { width: 25%; } table.claims col.c-verdict { width: 12.5%; }
table.claims col.c-stat { width: 14%; } table.claims col.c-thr { width: 11%; }
table.claims col.c-seeds { width: 6%; } table.claims col.c-ctrl { width: 12.5%; }
table.claims td.wrap { overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.small { font-size: 0.85em; }
section.claim { border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 22px 0; }
section.claim .head { display: flex; justify-content: space-between; gap: 12px; align-items: baseline;
  flex-wrap: wrap; }
section.claim blockquote { margin: 8px 0 12px; padding: 6px 14px; border-left: 4px solid var(--line);
  color: #2d333b; font-style: italic; }
dl.facts { display: grid; grid-template-columns: 9.5em 1fr; gap: 3px 14px; margin: 10px 0; }
dl.facts dt { color: var(--muted); font-weight: bold; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.figures { display: flex; flex-wrap: wrap; gap: 14px; margin-top: 10px; }
figure.figure { margin: 0; flex: 1 1 460px; max-width: 100%; }
figure.figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { font-size: 0.85em; color: var(--muted); margin-top: 4px; }
.figure-note { border: 1px dashed var(--line); padding: 10px; color: var(--muted); }
details summary { cursor: pointer; color: var(--muted); }
ul.checkpoints { margin: 4px 0; padding-left: 1.2em; }
.howto li { margin-bottom: 4px; }
footer { margin-top: 40px; color: var(--muted); font-size: 0.85em; border-top: 1px solid var(--line);
  padding-top: 10px; }
@media print { section.claim { break-inside: avoid; } a { color: inherit; } }
"""


def _e(value: Any) -> str:
    """HTML-escaped text of any value; ``—`` for None / empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return MISSING
    return html.escape(str(value))


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(value)).strip("-") or "unnamed"


def _verdict_badge(verdict: Any) -> str:
    v = normalize_verdict(verdict)
    css = v if v in VERDICTS or v == "not recorded" else "unknown"
    symbol = _SYMBOL.get(v, "?")
    return (f'<span class="verdict v-{css.replace(" ", "-")}" title="verdict: {html.escape(v)}">'
            f"{symbol} {html.escape(v)}</span>")


def _statistic(stat: Any) -> str:
    """``name = value ± noise`` (noise = seed-to-seed spread), or — when absent."""
    if not isinstance(stat, Mapping):
        return MISSING if stat is None else _e(stat)
    name = stat.get("name")
    value = stat.get("value")
    if value is None and name is None:
        return MISSING
    text = f"{html.escape(str(name))} = " if name is not None else ""
    text += html.escape(fmt_number(value))
    if stat.get("noise") is not None:
        text += f" ± {html.escape(fmt_number(stat['noise']))} <span class=\"muted small\">(noise)</span>"
    return text


def _threshold(th: Any, with_source: bool = True) -> str:
    if not isinstance(th, Mapping):
        return MISSING if th is None else _e(th)
    op = th.get("op")
    val = th.get("value")
    text = f"{html.escape(str(op)) + ' ' if op else ''}{html.escape(fmt_number(val))}" if (op or val is not None) else MISSING
    if with_source:
        src = th.get("source")
        text += f'<div class="muted small">source: {_e(src) if src else "not recorded"}</div>'
    return text


def _seeds(seeds: Any) -> str:
    if isinstance(seeds, list):
        return html.escape(", ".join(str(s) for s in seeds)) if seeds else MISSING
    return _e(seeds)


def _from_file_or_catalogue(c: Mapping, key: str, field: str, missing: str) -> str:
    """The claim's own ``key``; else the catalogue's text, marked as such (older files lack it); else ``missing``."""
    if c.get(key):
        return _e(c.get(key))
    fallback = catalogue_field(c.get("id"), field)
    if fallback:
        return f'{html.escape(fallback)} <span class="muted small">(from the catalogue; not in this file)</span>'
    return missing


def _claim_anchor_ids(claims: list) -> list[str]:
    """``claim-<id>`` for each claim, unique even when a file repeats an ID."""
    seen: Counter = Counter()
    out = []
    for i, c in enumerate(claims):
        base = "claim-" + _slug(c.get("id") if isinstance(c, Mapping) and c.get("id") else f"unnamed-{i + 1}")
        seen[base] += 1
        out.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return out


def _count_verdicts(claims: list[Mapping]) -> Counter:
    return Counter(normalize_verdict(c.get("verdict")) for c in claims)


def _meta_block(data: Mapping, claims: list[Mapping]) -> str:
    env = data.get("environment") if isinstance(data.get("environment"), Mapping) else {}
    runs = data.get("runs") if isinstance(data.get("runs"), Mapping) else {}
    hw = env.get("hardware") if isinstance(env.get("hardware"), Mapping) else {}

    run_list = [r for r in runs.values() if isinstance(r, Mapping)]
    archs = sorted({str(r["arch"]) for r in run_list if r.get("arch")})
    methods = sorted({str(r["method"]) for r in run_list if r.get("method")})
    epochs = sorted({r["epochs"] for r in run_list if isinstance(r.get("epochs"), int)})
    images = sorted({r["train_images"] for r in run_list if isinstance(r.get("train_images"), int)})
    if run_list:
        models = (f"{html.escape(', '.join(archs) or MISSING)} "
                  f'<span class="muted">· methods {html.escape(", ".join(methods) or MISSING)}'
                  f" · {len(run_list)} run{'s' if len(run_list) != 1 else ''}"
                  f" · epochs {html.escape(', '.join(map(str, epochs)) or MISSING)}"
                  f" · train images {html.escape(', '.join(map(str, images)) or MISSING)}</span>")
    else:
        models = "not recorded"

    seeds = {s for r in run_list for s in ([r.get("seed")] if r.get("seed") is not None else [])}
    for c in claims:
        if isinstance(c.get("seeds"), list):
            seeds.update(s for s in c["seeds"] if isinstance(s, (int, str)))
    seeds_txt = html.escape(", ".join(str(s) for s in sorted(seeds, key=str))) if seeds else "not recorded"

    if hw:
        mem = hw.get("memory_gb")
        hardware = (f"{_e(hw.get('cpu'))} · {_e(hw.get('cores'))} cores · "
                    f"{html.escape(fmt_number(mem, 3)) + ' GB' if mem is not None else MISSING + ' memory'} · "
                    f"GPU: {_e(hw.get('gpu')) if hw.get('gpu') else 'none'}")
    else:
        hardware = "not recorded"

    version_keys = ("python", "torch", "torchvision", "lightly", "sklearn", "numpy", "pandas", "sslre")
    versions = [f"{k} {html.escape(str(env[k]))}" for k in version_keys if env.get(k)]
    versions_txt = " · ".join(versions) if versions else "not recorded"

    sha = env.get("git_sha")
    dirty = env.get("git_dirty")
    sha_txt = (f"<code>{html.escape(str(sha))}</code>" + (" <b>(uncommitted changes)</b>" if dirty else "")
               if sha else "not recorded")

    schema = data.get("schema_version")
    schema_txt = _e(schema) if schema is not None else "not recorded"
    if schema != SCHEMA_VERSION:
        schema_txt += f' <span class="muted">(this renderer knows version {SCHEMA_VERSION}; shown as far as it can be read)</span>'

    rows = [
        ("Profile", _e(data.get("profile")) if data.get("profile") else "not recorded"),
        ("Dataset", _e(data.get("dataset")) if data.get("dataset") else "not recorded"),
        ("Model sizes", models),
        ("Seeds", seeds_txt),
        ("Hardware", hardware),
        ("Versions", versions_txt),
        ("Platform", _e(env.get("platform")) if env.get("platform") else "not recorded"),
        ("Git SHA", sha_txt),
        ("Wall time", fmt_duration(env.get("wall_time_s")) if env.get("wall_time_s") is not None else "not recorded"),
        ("Command", f"<code>{html.escape(str(data['command']))}</code>" if data.get("command") else "not recorded"),
        ("Generated", _e(data.get("generated_at")) if data.get("generated_at") else "not recorded"),
        ("Warnings", _warnings_text(data.get("warnings"))),
        ("Schema version", schema_txt),
    ]
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<dl class="meta" id="run-metadata">{body}</dl>'


def _warnings_text(w: Any) -> str:
    """``3 (first: ...) · log: RUNS/sslre.log``: sslre's own warnings during the reproduction."""
    if not isinstance(w, Mapping) or not isinstance(w.get("count"), int):
        return "not recorded"
    text = str(w["count"])
    first = w.get("first") if isinstance(w.get("first"), list) else []
    if w["count"] and first:
        text += f' <span class="muted">(first: {html.escape(str(first[0]))})</span>'
    logs = w.get("logs") if isinstance(w.get("logs"), list) else []
    if logs:
        text += " · log: " + ", ".join(f"<code>{html.escape(str(p))}</code>" for p in logs)
    return text


def _summary_block(data: Mapping, claims: list[Mapping]) -> str:
    counts = _count_verdicts(claims)
    order = list(VERDICTS) + sorted(k for k in counts if k not in VERDICTS)
    boxes = []
    for v in order:
        n = counts.get(v, 0)
        boxes.append(f'<div class="count"><b>{n}</b>{_verdict_badge(v)}</div>')
    out = f'<div class="summary" id="summary">{"".join(boxes)}</div>'
    out += f'<p class="muted small">{len(claims)} claim{"s" if len(claims) != 1 else ""} in this file.</p>'
    recorded = data.get("summary")
    if isinstance(recorded, Mapping) and claims:
        diff = [f"{k}: file says {recorded.get(k)}, claims list has {counts.get(k, 0)}"
                for k in VERDICTS if isinstance(recorded.get(k), int) and recorded.get(k) != counts.get(k, 0)]
        if diff:
            out += f'<div class="warn">The file\'s summary disagrees with its claims list ({html.escape("; ".join(diff))}); the counts above are from the claims list.</div>'
    elif isinstance(recorded, Mapping) and not claims and recorded:
        rec = ", ".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in recorded.items())
        out += f'<div class="warn">No claims are recorded in this file; its summary says: {rec}.</div>'
    out += _missing_runs_note(data.get("missing_runs"), claims)
    present = {c.get("id") for c in claims}
    absent = [cid for cid in CATALOGUE_IDS if cid not in present]
    if absent:
        out += (f'<div class="warn">Catalogue claims not recorded in this file ({len(absent)} of {len(CATALOGUE_IDS)}): '
                + ", ".join(f"<code>{html.escape(a)}</code>" for a in absent) + ".</div>")
    return out


def _missing_runs_note(missing: Any, claims: list[Mapping]) -> str:
    """A partial run set (``missing_runs``): how many runs of each profile are missing and the claims left out."""
    if not isinstance(missing, Mapping):
        return ""
    out = ""
    for prof, entry in missing.items():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("missing"), list):
            continue
        left = [c.get("id") for c in claims if normalize_verdict(c.get("verdict")) == "not run" and c.get("missing_runs")
                and c.get("profile") in (prof, None)]
        out += (f'<div class="warn">Partial run set: {len(entry["missing"])} of {_e(entry.get("total"))} runs of '
                f'profile {_e(prof)} are missing; {len(left)} claim{"s" if len(left) != 1 else ""} not run '
                f'({", ".join(f"<code>{_e(x)}</code>" for x in left) or "none"}). The commands that make the runs '
                "are listed with each claim.</div>")
    return out


_HOWTO = """
<ul class="howto">
<li>{sup} — every part of the claim passes its pre-registered test (Student's t on one value per training
seed, one-sided alpha 0.05; TOST for "comparable"), and no part's own control came out supported.</li>
<li>{ref} — a part is on the wrong side after the Holm correction over all of the claim's parts and cells.</li>
<li>{inc} — neither: within seed-to-seed noise, too few seeds (fewer than 3 of a run), a void part (its
control came out supported) or a part with no null.</li>
<li>{na} — the claim cannot apply to what was trained (e.g. a method whose loss has no regularization term);
the reason says what is absent. Not a failure to decide, and not counted as inconclusive.</li>
<li>{nr} — the claim's test did not run in this session (shown so that coverage is visible), or runs it reads are
missing: the commands that make them are listed with the claim; {err} — the test crashed; the reason says
where.</li>
<li><b>Controls.</b> Each part has its own null (labels replaced by a random permutation, an untrained network,
shuffled pairs), decided by the same test; a part whose control comes out supported is void. The procedure, each
part's test, df and p-values, and the measured error rates are in <a href="#protocol">Evaluation protocol</a>
and in each claim's parts table.</li>
<li><b>Profiles.</b> The <code>quick</code> and <code>small</code> profiles use synthetic data or CIFAR-10, tiny
networks and few epochs: they test the <em>direction</em> of each effect, never the paper's absolute numbers
(CIFAR-100, RES-L-H, 1000 epochs). Paper values are printed beside ours for orientation only.</li>
<li><b>Thresholds</b> are fixed before a run and state their source (the paper's sentence or number); every number
comes from checkpoints fixed in advance, never a "best epoch".</li>
</ul>
"""


def _claims_table(claims: list[Mapping], anchors: list[str]) -> str:
    if not claims:
        return '<p class="muted">No claims recorded in this file.</p>'
    head = ("<tr><th>ID</th><th>Paper</th><th>Claim (the paper's sentence)</th><th>Verdict</th>"
            "<th>Statistic</th><th>Threshold (source)</th><th>Seeds</th><th>Control</th></tr>")
    rows = []
    for c, anchor in zip(claims, anchors):
        control = c.get("control") if isinstance(c.get("control"), Mapping) else None
        ctrl = _verdict_badge(control.get("verdict")) if control else '<span class="muted">not recorded</span>'
        rows.append(
            f'<tr id="row-{anchor}"><td class="wrap"><a href="#{anchor}"><code>{_e(c.get("id"))}</code></a></td>'
            f"<td>{_from_file_or_catalogue(c, 'paper_ref', 'paper', MISSING)}</td>"
            f"<td class=\"statement\">{_from_file_or_catalogue(c, 'statement', 'statement', MISSING)}</td>"
            f"<td>{_verdict_badge(c.get('verdict'))}</td><td class=\"wrap\">{_statistic(c.get('statistic'))}</td>"
            f"<td class=\"wrap\">{_threshold(c.get('threshold'))}</td><td class=\"wrap\">{_seeds(c.get('seeds'))}</td>"
            f"<td>{ctrl}</td></tr>"
        )
    cols = "".join(f'<col class="c-{c}">' for c in ("id", "ref", "stmt", "verdict", "stat", "thr", "seeds", "ctrl"))
    return f'<table class="claims" id="claims-table"><colgroup>{cols}</colgroup><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _checkpoints(cps: Any) -> str:
    if not isinstance(cps, list) or not cps:
        return "not recorded" if not isinstance(cps, list) else MISSING
    items = "".join(f"<li><code>{html.escape(str(p))}</code></li>" for p in cps)
    if len(cps) <= 4:
        return f'<ul class="checkpoints">{items}</ul>'
    return f'<details><summary>{len(cps)} checkpoints</summary><ul class="checkpoints">{items}</ul></details>'


def _control(control: Any) -> str:
    if not isinstance(control, Mapping):
        return "not recorded"
    out = f"{_e(control.get('description'))} — {_verdict_badge(control.get('verdict'))}"
    if control.get("statistic") is not None:
        out += f"<div class=\"small\">{_statistic(control.get('statistic'))}</div>"
    if normalize_verdict(control.get("verdict")) == "supported":
        out += ('<div class="warn"><b>⚠ The control came out supported:</b> this test does not discriminate, '
                "so the claim's verdict is not evidence.</div>")
    return out


def _commands(c: Mapping) -> str:
    """The commands that make the runs a claim missed (``commands`` of a not-run entry), or nothing."""
    cmds = c.get("commands") if isinstance(c.get("commands"), list) else []
    if not cmds:
        return ""
    items = "".join(f"<li><code>{html.escape(str(x))}</code></li>" for x in cmds)
    return (f'<details open><summary>{len(cmds)} command{"s" if len(cmds) != 1 else ""} make the missing '
            f'run{"s" if len(cmds) != 1 else ""}</summary><ul class="checkpoints">{items}</ul></details>')


def _claim_section(c: Mapping, anchor: str) -> str:
    head = (f'<section class="claim" id="{anchor}"><div class="head"><h3><code>{_e(c.get("id"))}</code>'
            f' <span class="muted">· {_from_file_or_catalogue(c, "paper_ref", "paper", "paper reference not recorded")}'
            f'</span></h3>{_verdict_badge(c.get("verdict"))}</div>'
            f"<blockquote>{_from_file_or_catalogue(c, 'statement', 'statement', 'Statement not recorded.')}</blockquote>")
    back = '<p class="small"><a href="#claims-table">↑ back to the claims table</a></p></section>'
    verdict = normalize_verdict(c.get("verdict"))
    if verdict in ("not run", "not applicable") and not c.get("statistic") and not c.get("figures"):
        # Coverage entry only: a compact section instead of ten rows of "—".
        reason = _e(str(c["reason"]).rstrip(". ")) if c.get("reason") else "no reason recorded"
        what = "Not run" if verdict == "not run" else "Not applicable"
        return f'{head}<p class="muted">{what}: {reason}. Nothing was measured for this claim.</p>{_commands(c)}{back}'
    figs = c.get("figures")
    if isinstance(figs, list) and figs:
        fig_html = "".join(figure_html(f, f"{anchor}-fig-{i + 1}") for i, f in enumerate(figs))
        figures = f'<div class="figures">{fig_html}</div>'
    elif isinstance(figs, list):
        figures = '<p class="muted">No figure for this claim.</p>'
    else:
        figures = '<p class="muted">Figures: not recorded.</p>'
    extra = ""
    if c.get("profile") and c.get("dataset"):
        extra = f"{_e(c.get('profile'))} profile · {_e(c.get('dataset'))}"
    elif c.get("profile") or c.get("dataset"):
        extra = _e(c.get("profile") or c.get("dataset"))
    facts = [
        ("Verdict", _verdict_badge(c.get("verdict"))),
        ("Reason", _e(c.get("reason")) if c.get("reason") else "not recorded"),
        ("Statistic", _statistic(c.get("statistic"))),
        ("Threshold", _threshold(c.get("threshold"))),
        ("Paper's value", _e(c.get("paper_value")) if c.get("paper_value") is not None else "not given"),
        ("Seeds", _seeds(c.get("seeds"))),
        ("Checkpoints", _checkpoints(c.get("checkpoints"))),
        ("Protocol", _e(c.get("protocol")) if c.get("protocol") else "not recorded"),
        ("Control", _control(c.get("control"))),
        ("Run", f"{extra or MISSING} · {fmt_duration(c.get('duration_s'))}"
                + (f" · <code>{html.escape(str(c['nodeid']))}</code>" if c.get("nodeid") else "")),
    ]
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    return f'{head}<dl class="facts">{body}</dl>{_parts_table(c.get("parts"))}{figures}{back}'


def _p(x: Any) -> str:
    return MISSING if not isinstance(x, (int, float)) or isinstance(x, bool) else html.escape(f"{x:.3g}")


def _per_seed(stat: Any) -> str:
    if not isinstance(stat, Mapping) or not isinstance(stat.get("per_seed"), list):
        return MISSING
    seeds = stat.get("seeds") if isinstance(stat.get("seeds"), list) else []
    vals = stat["per_seed"]
    if len(seeds) == len(vals):
        return ", ".join(f"s{_e(s)}: {_e(fmt_number(v))}" for s, v in zip(seeds, vals))
    return ", ".join(_e(fmt_number(v)) for v in vals)


def _test_cell(t: Any, th: Any) -> str:
    if not isinstance(t, Mapping):
        return MISSING
    th = th if isinstance(th, Mapping) else {}
    if t.get("kind") == "equivalence":
        what = f"TOST |x − {_e(fmt_number(th.get('value')))}| &lt; {_e(fmt_number(th.get('margin')))}"
    else:
        what = f"{_e(t.get('kind'))}: x {_e(th.get('op'))} {_e(fmt_number(th.get('value')))}"
    return f"{what}<div class=\"small muted\">n = {_e(t.get('n'))}, df = {_e(t.get('df'))}, t = {_p(t.get('t'))}</div>"


def _parts_table(parts: Any) -> str:
    """Per part: the statistic per seed, the test, df and p-values, the Holm-adjusted p, its control, its decision."""
    if not isinstance(parts, list) or not parts:
        return ""
    rows = []
    for p in parts:
        if not isinstance(p, Mapping):
            continue
        t = p.get("test") if isinstance(p.get("test"), Mapping) else {}
        ctrl = p.get("control") if isinstance(p.get("control"), Mapping) else None
        if ctrl is None:
            ctrl_html = MISSING
        else:
            ct = ctrl.get("test") if isinstance(ctrl.get("test"), Mapping) else {}
            ctrl_html = (f"{_e(ctrl.get('description'))} — {_verdict_badge(ctrl.get('verdict'))}"
                         f"<div class=\"small muted\">p = {_p(ct.get('p_support'))} (support)</div>")
        cells = p.get("cells") if isinstance(p.get("cells"), list) else []
        fam = f'<div class="small muted">family of {len(cells)} cells</div>' if cells else ""
        void = f'<div class="warn small">void: {_e(p.get("void"))}</div>' if p.get("void") else ""
        rows.append(
            f"<tr><td><b>{_e(p.get('part_id'))}</b></td><td class=\"wrap\">{_e(p.get('label'))}{fam}</td>"
            f"<td class=\"wrap small\">{_per_seed(p.get('statistic'))}</td>"
            f"<td class=\"wrap\">{_test_cell(t, p.get('threshold'))}</td>"
            f"<td>{_p(t.get('p_support'))}</td><td>{_p(t.get('p_refute'))}</td><td>{_p(t.get('holm_p_refute'))}</td>"
            f"<td class=\"wrap\">{ctrl_html}</td><td>{_verdict_badge(p.get('verdict'))}{void}</td></tr>")
    head = ("<tr><th>Part</th><th>Statement</th><th>Statistic per seed</th><th>Test</th><th>p (support)</th>"
            "<th>p (refute)</th><th>Holm p</th><th>Control</th><th>Decision</th></tr>")
    return f'<table class="parts"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _calibration_table(cal: Any) -> str:
    if not isinstance(cal, Mapping) or not isinstance(cal.get("table"), Mapping):
        return '<p class="muted">Operating characteristics: not recorded for this profile.</p>'
    rows = []
    for cid, r in cal["table"].items():
        if not isinstance(r, Mapping):
            continue
        g = lambda sc, k: _p((r.get(sc) or {}).get(k) if isinstance(r.get(sc), Mapping) else None)  # noqa: E731
        rows.append(f"<tr><td><code>{_e(cid)}</code></td><td>{g('null', 'supported')}</td><td>{g('null', 'refuted')}</td>"
                    f"<td>{g('planted', 'supported')}</td><td>{g('reversed', 'refuted')}</td><td>{_e(r.get('sims'))}</td></tr>")
    head = ("<tr><th>Claim</th><th>No effect: supported</th><th>No effect: refuted</th><th>Planted effect: supported</th>"
            "<th>Reversed effect: refuted</th><th>Simulations</th></tr>")
    src = f'<p class="small muted">{_e(cal.get("source"))}</p>' if cal.get("source") else ""
    return (f'<h3 id="calibration">Operating characteristics</h3>{src}'
            f'<table id="calibration-table"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>')


def _procedure_block(data: Mapping) -> str:
    proto = data.get("protocol") if isinstance(data.get("protocol"), Mapping) else None
    if proto is None:
        return '<p class="warn">No protocol version is recorded: these verdicts were decided by an older rule.</p>'
    log = proto.get("changelog") if isinstance(proto.get("changelog"), list) else []
    items = "".join(f"<li>{_e(c.get('date'))} (v{_e(c.get('version'))}): {_e(c.get('change'))}</li>"
                    for c in log if isinstance(c, Mapping))
    return (f"<p>Decided under protocol <b>v{_e(proto.get('version'))}</b> (sha256 <code>"
            f"{_e(str(proto.get('sha256', ''))[:16])}</code>…; <code>claims/PROTOCOL.md</code>): one value per "
            f"training seed, Student's t at one-sided alpha {_e(proto.get('alpha'))}, at least "
            f"{_e(proto.get('min_seeds'))} seeds of every run, a control per part, Holm-corrected refutation.</p>"
            f"<details><summary>Changelog</summary><ul>{items}</ul></details>"
            + _calibration_table(data.get("calibration")))


def _protocol_section(claims: list[Mapping], anchors: list[str]) -> str:
    if not claims:
        return '<p class="muted">No claims recorded.</p>'
    rows = "".join(
        f'<tr><td><a href="#{a}"><code>{_e(c.get("id"))}</code></a></td>'
        f"<td>{_e(c.get('protocol')) if c.get('protocol') else 'not recorded'}</td></tr>"
        for c, a in zip(claims, anchors)
    )
    return (f'<table id="protocol-table"><thead><tr><th>Claim</th><th>Evaluation protocol</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def _runs_section(data: Mapping) -> str:
    runs = data.get("runs")
    if not isinstance(runs, Mapping) or not runs:
        return '<p class="muted">Runs: not recorded.</p>'
    cols = ("method", "arch", "dataset", "seed", "epochs", "train_images", "run_dir")
    head = "<tr><th>Run</th>" + "".join(f"<th>{c.replace('_', ' ')}</th>" for c in cols) + "</tr>"
    rows = "".join(
        f"<tr><td><code>{html.escape(str(name))}</code></td>"
        + "".join(f"<td>{_e(r.get(c)) if isinstance(r, Mapping) else MISSING}</td>" for c in cols) + "</tr>"
        for name, r in runs.items()
    )
    return f'<table id="runs-table"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def _reporting(claims: list[Mapping], anchors: list[str], progress: Callable[[str], None] | None):
    """``zip(claims, anchors)``, telling ``progress`` which claim is being drawn (figures take the time)."""
    for i, (c, a) in enumerate(zip(claims, anchors)):
        if progress is not None:
            figs = c.get("figures")
            n = len(figs) if isinstance(figs, list) else 0
            progress(f"report: claim {i + 1}/{len(claims)} {c.get('id')} ({n} figure{'s' if n != 1 else ''})")
        yield c, a


def _method_note(data: Mapping) -> str:
    """``, method X`` for one column of the generality matrix whose method is not VICReg (its runs play the
    registry's VICReg roles: run names in this report are roles)."""
    m = data.get("method")
    if not m or m == "vicreg":
        return ""
    return (f", method <b>{html.escape(str(m))}</b> (its runs play the registry's method-generic roles: the run "
            f"names below, e.g. <code>vicreg-deep</code>, are roles, trained with {html.escape(str(m))})")


def _regime_block(data: Mapping) -> str:
    """``regime`` (:mod:`sslre.regime`): did the runs reach the state the paper's claims describe? Empty if absent."""
    regime = data.get("regime")
    if not isinstance(regime, Mapping) or not isinstance(regime.get("criteria"), list):
        return ""
    rows = []
    for c in regime["criteria"]:
        if not isinstance(c, Mapping):
            continue
        vals = ", ".join(f"{html.escape(str(k))} {float(v):.3f}" for k, v in (c.get("values") or {}).items()) or MISSING
        state = "met" if c.get("met") else ("not measurable yet" if c.get("missing") and not c.get("values")
                                            else "NOT met")
        extra = "; ".join(x for x in (c.get("note") or "", ("missing: " + ", ".join(map(str, c["missing"])))
                                      if c.get("missing") else "") if x)
        rows.append(f"<tr><td><code>{_e(c.get('name'))}</code></td><td class=\"statement\">{_e(c.get('statement'))}"
                    f"</td><td>{_e(c.get('threshold'))}</td><td><b>{html.escape(state)}</b></td>"
                    f"<td class=\"wrap\">{vals}</td><td class=\"wrap small\">{_e(extra)}</td></tr>")
    return ('<h2 id="regime">Training regime</h2><p class="small muted">Whether the runs reached the state the '
            "paper's claims describe (sslre/regime.py, computed from the published runs' tables and histories). "
            "A verdict on runs short of it says less about the paper.</p><table class=\"claims\" id=\"regime-table\">"
            "<thead><tr><th>criterion</th><th>statement</th><th>threshold</th><th>state</th><th>values per run"
            f"</th><th>note</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _matrix_block(data: Mapping, claims: list[Mapping], anchors: list[str]) -> str:
    """The generality matrix (``methods``, :func:`sslre.reproduce.write_matrix`): claim x method verdicts, each
    cell linking to that claim's section in the method's report; empty without a matrix."""
    matrix = data.get("methods")
    if not isinstance(matrix, Mapping) or not matrix.get("order"):
        return ""
    order = [str(m) for m in matrix["order"]]
    reports = matrix.get("reports") or {}
    verdicts = matrix.get("verdicts") or {}
    owners = matrix.get("owners") or {}
    own = {c.get("id"): a for c, a in zip(claims, anchors)}
    head = "<tr><th>Claim</th>" + "".join(
        f'<th><a href="{html.escape(str(reports.get(m, "")))}"><code>{html.escape(m)}</code></a></th>' for m in order
    ) + "</tr>"
    rows = []
    learning = matrix.get("learning") or {}
    if learning:
        margin = float(matrix.get("learns_gain", 0.0))
        cells = []
        for m in order:
            g = learning.get(m) or {}
            lin, ncc = g.get("linear") or [], g.get("ncc") or []
            if not lin:
                cells.append('<td class="muted">—</td>')
                continue
            ok = all(x >= margin for x in lin + ncc)
            text = (f"linear {min(lin):+.2f}..{max(lin):+.2f}<br>NCC {min(ncc):+.2f}..{max(ncc):+.2f}"
                    f"<br><b>{'learns' if ok else 'does NOT learn on every seed'}</b>")
            cells.append(f'<td class="small">{text}</td>')
        rows.append("<tr><td class=\"wrap\"><i>main run learns?</i> class test accuracy gain, epoch 0 to last, "
                    f"range over {len((learning.get(order[0]) or {}).get('seeds') or [])} seeds (>= {margin} "
                    f"each: the quick recipe margin)</td>{''.join(cells)}</tr>")
    for cid, per in verdicts.items():
        cells = []
        for i, m in enumerate(order):
            v = (per or {}).get(m)
            owner = owners.get(cid)
            if v is None:
                cells.append('<td class="muted">—</td>')
                continue
            if owner is not None and owner != m and normalize_verdict(v) == "not applicable":
                cells.append(f'<td class="muted small">{html.escape(owner)} ablation</td>')
                continue
            anchor = own.get(cid, "claim-" + _slug(cid)) if i == 0 else "claim-" + _slug(cid)
            href = f"#{anchor}" if i == 0 else f"{html.escape(str(reports.get(m, '')))}#{anchor}"
            cells.append(f'<td><a href="{href}">{_verdict_badge(v)}</a></td>')
        rows.append(f"<tr><td class=\"wrap\"><code>{html.escape(str(cid))}</code></td>{''.join(cells)}</tr>")
    note = ("<p class=\"small muted\">Each SSL method trains the registry's method-generic runs (main, deeper, "
            "narrower, wider, other-dataset) and has every method-generic claim decided under the same protocol; "
            "the supervised baselines and random-target generators are shared. One method's ablations "
            "(mu, SimCLR vs VICReg) are decided in its column only. Each cell links to the claim's section in that "
            "method's report. A column whose main run does not learn decides nothing about its method: its verdicts "
            "rest on features no better than at initialization.</p>")
    return (f'<h2 id="methods">Methods x claims</h2>{note}<table class="claims" id="methods-matrix"><thead>{head}'
            f'</thead><tbody>{"".join(rows)}</tbody></table>')


def render_html(data: Mapping, source_name: str = "reproduction.json", *,
                progress: Callable[[str], None] | None = None) -> str:
    """The complete HTML page for an already-loaded reproduction mapping (see :func:`render_report`).

    ``progress``: called with one line per claim drawn (``"report: claim 3/16 <id> (2 figures)"``).
    """
    raw_claims = data.get("claims") if isinstance(data.get("claims"), list) else []
    claims = [c for c in raw_claims if isinstance(c, Mapping)]
    skipped = len(raw_claims) - len(claims)
    anchors = _claim_anchor_ids(claims)

    banner = ""
    if data.get("fixture"):
        banner = ('<div class="banner">FIXTURE — hand-made test data for the report renderer. '
                  "These are not results of any run.</div>")
    if skipped:
        banner += (f'<div class="warn">{skipped} entr{"y" if skipped == 1 else "ies"} of "claims" '
                   f"{'is' if skipped == 1 else 'are'} not an object and could not be shown.</div>")
    title = "Reproduction report — Reverse Engineering Self-Supervised Learning"
    profile = data.get("profile") or "unknown profile"
    sections = "".join(_claim_section(c, a) for c, a in _reporting(claims, anchors, progress)) \
        or '<p class="muted">No claims recorded.</p>'
    howto = _HOWTO.format(**{k: _verdict_badge(v) for k, v in (("sup", "supported"), ("ref", "refuted"),
                                                                 ("inc", "inconclusive"), ("na", "not applicable"), ("nr", "not run"),
                                                                 ("err", "error"))})
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} ({html.escape(str(profile))})</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<header>
<h1>{html.escape(title)}</h1>
<p class="subtitle">Ben-Shaul, Shwartz-Ziv, Galanti, Dekel, LeCun — claim by claim, as tested by <code>sslre</code>
at the <b>{_e(data.get("profile"))}</b> profile{_method_note(data)}.</p>
{banner}
<nav class="toc small">{'<a href="#methods">Methods x claims</a> · ' if data.get("methods") else ""}<a href="#run">Run</a> · <a href="#summary-heading">Summary</a> ·
<a href="#how-to-read">How to read this</a> · <a href="#claims">Claims</a> · <a href="#claim-sections">Claim by claim</a> ·
<a href="#protocol">Evaluation protocol</a> · <a href="#runs">Trained runs</a></nav>
</header>
{_matrix_block(data, claims, anchors)}
<h2 id="run">Run</h2>
{_meta_block(data, claims)}
<h2 id="summary-heading">Summary</h2>
{_summary_block(data, claims)}
{_regime_block(data)}
<h2 id="how-to-read">How to read this</h2>
{howto}
<h2 id="claims">Claims</h2>
{_claims_table(claims, anchors)}
<h2 id="claim-sections">Claim by claim</h2>
{sections}
<h2 id="protocol">Evaluation protocol</h2>
{_procedure_block(data)}
{_protocol_section(claims, anchors)}
<h2 id="runs">Trained runs</h2>
{_runs_section(data)}
<footer>Rendered by <code>sslre report</code> from <code>{html.escape(source_name)}</code> alone; self-contained
(no scripts, no network). Paper: <i>Reverse Engineering Self-Supervised Learning</i> (NeurIPS 2023).</footer>
</main>
</body>
</html>
"""


def render_report(json_path: str | os.PathLike, output_path: str | os.PathLike | None = None, *,
                  progress: Callable[[str], None] | None = None) -> Path:
    """Render ``json_path`` (a ``reproduction.json``) into a self-contained HTML file; return its path.

    ``output_path`` defaults to the JSON's path with ``.html``. The file is written atomically (temp file
    in the same folder, then ``os.replace``). Raises :class:`ReportError` when the JSON cannot be read
    or is not a reproduction file; missing or unknown keys inside it are rendered, never fatal. ``progress``:
    see :func:`render_html` (``sslre report`` prints it to stderr).
    """
    src = Path(json_path)
    out = Path(output_path) if output_path is not None else src.with_suffix(".html")
    if out.resolve() == src.resolve():
        raise ReportError(f"{out}: the output path is the input JSON; choose another (e.g. {src.with_suffix('.html')})")
    data = load_reproduction(src)
    io.write_text(render_html(data, source_name=src.name, progress=progress), out)
    return out
