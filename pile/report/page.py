"""``report.html``: one self-contained page to look at the corpus, offline.

No request leaves the page: the styles and the table-sorting script are inline, the
plots are the report's PNG files as ``data:`` URIs, and there is no font, CDN or
link to fetch. The page holds Table 1 (sortable), the plots (each once), per source a
sample of kept documents and, per drop reason, of dropped ones with the rule's numbers,
the sampled near-duplicate pairs side by side with their differences marked, PII
placeholders in context, and one passage per source split by every vocabulary.

Size: `render_page` cuts the sampled texts shorter, then shows fewer of them, until
the page fits in ``report.max_html_bytes`` (every text was already cut to
``report.sample_chars`` on the worker that sampled it).
"""

from __future__ import annotations

import base64
import difflib
import html
import re
from dataclasses import dataclass, field
from typing import Any

from pile.report.boundaries import Split
from pile.report.plots import Plot
from pile.report.table import Table

MIN_TEXT_CHARS = 120  # below this a sample says too little: show fewer instead

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header.top{background:#1d2330;color:#fff;padding:18px 28px}header.top h1{margin:0 0 4px;font-size:22px}
header.top p{margin:0;color:#c9d0dc}nav{margin-top:10px}nav a{color:#9cc4ff;margin-right:14px;text-decoration:none}
main{padding:8px 28px 40px;max-width:1500px}section{margin-top:26px}h2{font-size:18px;border-bottom:2px solid #d8dde6;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 6px}h4{font-size:13px;margin:10px 0 4px;color:#3d4657}
table{border-collapse:collapse;background:#fff;font-size:12.5px}th,td{border:1px solid #d8dde6;padding:4px 7px;vertical-align:top}
th{background:#eef1f6;cursor:pointer;white-space:nowrap;user-select:none}th.sorted-asc::after{content:" \\25B2"}
th.sorted-desc::after{content:" \\25BC"}td.num{text-align:right;font-variant-numeric:tabular-nums}tfoot td{font-weight:600;background:#f1f3f7}
figure.plot{display:inline-block;vertical-align:top;margin:8px 16px 8px 0;background:#fff;border:1px solid #d8dde6;padding:6px}
figure.plot img{max-width:560px;height:auto;display:block}.wide{overflow-x:auto}figcaption{font-size:12px;color:#586174}
details.source{background:#fff;border:1px solid #d8dde6;margin:10px 0;padding:6px 12px}summary{cursor:pointer;font-weight:600}
.sample{border-left:3px solid #7aa7e0;margin:6px 0 10px;padding:2px 10px;background:#fbfcfd}.dropped .sample{border-left-color:#e09a7a}
.sample header{font-size:12px;color:#586174}pre{white-space:pre-wrap;word-break:break-word;margin:4px 0;font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;max-height:16em;overflow:auto}
.numbers{font-size:12px;color:#7a3b1d}.cut{color:#8a93a3;font-style:italic}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:10px;background:#fff;border:1px solid #d8dde6;padding:8px;margin:10px 0}
.pair .head{grid-column:1/3;font-size:12.5px}del{background:#ffd7d5;text-decoration:line-through}ins{background:#cdf3d4;text-decoration:none}
mark.pii{background:#ffe27a;padding:0 2px;border-radius:3px}
.split{margin:4px 0 10px}.split .name{font-size:12px;color:#586174}.tok{border-radius:3px;padding:1px 0;white-space:pre-wrap;font:12px/1.9 ui-monospace,Menlo,Consolas,monospace}
.t0{background:#dbe9ff}.t1{background:#ffe6c7}.t2{background:#d9f2df}.t3{background:#f3dcf5}.multi{outline:1px dashed #8a5a00}
.note{color:#586174;font-size:12.5px}
"""

SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function(table){
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function(th, col){
    th.addEventListener('click', function(){
      var asc = !th.classList.contains('sorted-asc');
      Array.prototype.forEach.call(heads, function(h){h.classList.remove('sorted-asc','sorted-desc');});
      th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
      var numeric = th.dataset.numeric === '1';
      var rows = Array.prototype.slice.call(table.tBodies[0].rows);
      rows.sort(function(a, b){
        var x = a.cells[col].dataset.value, y = b.cells[col].dataset.value;
        var c = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        return asc ? c : -c;
      });
      rows.forEach(function(r){table.tBodies[0].appendChild(r);});
    });
  });
});
"""


@dataclass
class SourceView:
    """What the page shows of one source."""

    name: str
    set_name: str
    kept: int
    kept_samples: list[dict[str, Any]] = field(default_factory=list)
    drops: dict[str, tuple[int, list[dict[str, Any]]]] = field(default_factory=dict)  # group -> (count, samples)
    pii: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # entity -> samples
    passage: str = ""
    splits: list[Split] = field(default_factory=list)


@dataclass
class PageData:
    """Everything `render_page` draws (gathered by the report's worker task)."""

    title: str
    summary: str
    table: Table
    plots: list[tuple[Plot, bytes]]
    no_plot: dict[str, str]  # plot key -> why it is not drawn
    sources: list[SourceView]
    pairs: list[dict[str, Any]]
    dedup: bool
    pii: bool
    tokenizers: list[str]
    samples: int  # the configured samples per group (`fit_page` may show fewer)


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def shorten(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to `limit` characters at a space when one is near (the page's budget)."""
    if len(text) <= limit:
        return text, False
    head = text[:limit]
    space = head.rfind(" ")
    return (head[:space] if space > 0.8 * limit else head), True


def cut_note(shown: int, total: int) -> str:
    return f'<span class="cut"> [cut: {shown:,} of {total:,} characters shown]</span>' if total > shown else ""


def no_text(rec: dict[str, Any]) -> str:
    """What a sample without text says instead."""
    return "(no text: the reader dropped the record before decoding it)" if rec.get("unread") else "(empty document)"


def sample_html(rec: dict[str, Any], limit: int, numbers: bool = False) -> str:
    text, _cut = shorten(rec.get("text", ""), limit)
    meta = ", ".join(f"{k}={v}" for k, v in rec.get("meta", {}).items() if k != "pii")
    head = f"<b>{esc(rec['id'])}</b> &middot; {rec.get('chars', 0):,} characters" + (
        f" &middot; {esc(meta)}" if meta else "")
    body = f"<pre>{esc(text)}{cut_note(len(text), rec.get('chars', 0))}</pre>" if rec.get("text") else \
        f'<p class="note">{esc(no_text(rec))}</p>'
    nums = ""
    if numbers:
        shown = ", ".join(f"{k} = {v}" for k, v in rec.get("numbers", {}).items())
        nums = f'<div class="numbers">{esc(shown) if shown else "no rule numbers recorded"}</div>'
    return f'<article class="sample"><header>{head}</header>{nums}{body}</article>'


def marked_html(rec: dict[str, Any], limit: int) -> str:
    """A PII passage: the text around the placeholders, each placeholder marked."""
    text = rec["text"]
    marks = sorted(rec.get("marks", []))
    first = marks[0][0] if marks else 0
    lo = max(0, min(first - limit // 2, len(text) - limit))
    hi = min(len(text), lo + limit)
    out, pos = [], lo
    for start, end, entity in marks:
        if start < pos or end > hi:
            continue
        out.append(esc(text[pos:start]))
        out.append(f'<mark class="pii" title="{esc(entity)}">{esc(text[start:end])}</mark>')
        pos = end
    out.append(esc(text[pos:hi]))
    where = f"characters {rec.get('offset', 0) + lo:,} to {rec.get('offset', 0) + hi:,} of {rec.get('chars', 0):,}"
    return (f'<article class="sample pii-sample"><header><b>{esc(rec["id"])}</b> &middot; {where}</header>'
            f'<pre>{"…" if lo + rec.get("offset", 0) > 0 else ""}{"".join(out)}'
            f'{"…" if hi < rec.get("chars", 0) - rec.get("offset", 0) else ""}</pre></article>')


_WORDS_RE = re.compile(r"\S+\s*|\s+")


def word_changes(left: str, right: str) -> list[tuple[bool, str, str]]:
    """The two texts as runs of words: (same, run of `left`, run of `right`). Words are
    compared without the spaces after them, as dedup's normalisation does, so a line
    break that became a space is not a difference."""
    a, b = _WORDS_RE.findall(left), _WORDS_RE.findall(right)
    matcher = difflib.SequenceMatcher(None, [w.strip() for w in a], [w.strip() for w in b], autojunk=False)
    return [(op == "equal", "".join(a[i1:i2]), "".join(b[j1:j2])) for op, i1, i2, j1, j2 in matcher.get_opcodes()]


def diff_html(left: str, right: str) -> tuple[str, str]:
    """Both texts with what only the left has in <del>, only the right has in <ins>."""
    out_a, out_b = [], []
    for same, x, y in word_changes(left, right):
        x, y = esc(x), esc(y)
        if same:
            out_a.append(x)
            out_b.append(y)
        else:
            if x:
                out_a.append(f"<del>{x}</del>")
            if y:
                out_b.append(f"<ins>{y}</ins>")
    return "".join(out_a), "".join(out_b)


def pair_html(pair: dict[str, Any], limit: int) -> str:
    kept, removed = pair["duplicate"], pair["removed"]
    left, _ = shorten(kept.get("text", ""), limit)
    right, _ = shorten(removed.get("text", ""), limit)
    a, b = diff_html(left, right)
    jaccard = pair.get("jaccard")
    est = f"{jaccard:.3f}" if isinstance(jaccard, (int, float)) else "?"
    head = (f'<div class="head"><b>{esc(pair["reason"])}</b> &middot; estimated Jaccard {est} &middot; '
            f'{esc(pair["duplicate_source"])} &rarr; {esc(pair["source"])}</div>')
    return (f'<div class="pair" data-reason="{esc(pair["reason"])}">{head}'
            f'<div class="side kept"><header>kept: <b>{esc(kept["id"])}</b> ({esc(pair["duplicate_source"])}, '
            f'{kept.get("chars", 0):,} characters)</header><pre>{a}{cut_note(len(left), kept.get("chars", 0))}</pre></div>'
            f'<div class="side removed"><header>removed: <b>{esc(removed["id"])}</b> ({esc(pair["source"])}, '
            f'{removed.get("chars", 0):,} characters)</header><pre>{b}{cut_note(len(right), removed.get("chars", 0))}'
            f'</pre></div></div>')


def split_html(split: Split) -> str:
    spans = []
    for i, (piece, n) in enumerate(split.pieces):
        cls = f"tok t{i % 4}" + (" multi" if n > 1 else "")
        title = f' title="{n} tokens"' if n > 1 else ""
        spans.append(f'<span class="{cls}"{title}>{esc(piece)}</span>')
    note = "" if split.exact else " (each token decoded on its own: this decoder normalises the text)"
    return (f'<div class="split" data-tokenizer="{esc(split.tokenizer)}"><div class="name"><b>{esc(split.tokenizer)}'
            f'</b>: {split.tokens:,} tokens, {split.bytes_per_token:.2f} bytes per token{note}</div>'
            f'{"".join(spans)}</div>')


def table_html(table: Table) -> str:
    heads = "".join(f'<th data-numeric="{int(num)}">{esc(c)}</th>' for c, num in zip(table.columns, table.numeric))

    def cells(row: list[tuple[str, Any]], tag: str = "td") -> str:
        return "".join(f'<{tag} class="{"num" if num else "text"}" data-value="{esc(value)}">'
                       f'{esc(shown.strip("*"))}</{tag}>' for (shown, value), num in zip(row, table.numeric))

    body = "".join(f'<tr data-source="{esc(row[0][1])}">{cells(row)}</tr>' for row in table.rows)
    return (f'<table class="sortable" id="table1"><thead><tr>{heads}</tr></thead><tbody>{body}</tbody>'
            f'<tfoot><tr>{cells(table.total)}</tr></tfoot></table>')


def render_page(data: PageData, limit: int, per_group: int) -> str:
    """The page with every sampled text cut to `limit` and at most `per_group` per group."""
    parts = [f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
             f'<meta name="viewport" content="width=device-width,initial-scale=1">'
             f"<title>{esc(data.title)}</title><style>{STYLE}</style></head><body>",
             f'<header class="top"><h1>{esc(data.title)}</h1><p>{esc(data.summary)}</p><nav>'
             '<a href="#sources">Sources</a><a href="#plots">Plots</a><a href="#samples">Samples</a>'
             '<a href="#duplicates">Near-duplicates</a><a href="#pii">PII</a><a href="#tokenizers">Tokenizers</a>'
             "</nav></header><main>",
             '<section id="sources"><h2>Sources</h2><p class="note">Click a column to sort. Sizes are UTF-8 text '
             "after each step; effective MB is kept MB x epochs.</p>", '<div class="wide">', table_html(data.table),
             "</div></section>",
             '<section id="plots"><h2>Plots</h2>']
    for plot, png in data.plots:
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        parts.append(f'<figure class="plot" data-plot="{esc(plot.key)}"><img alt="{esc(plot.title)}" src="{uri}">'
                     f"<figcaption>{esc(plot.title)} ({esc(plot.path)})</figcaption></figure>")
    parts += [f'<p class="note no-plot" data-plot="{esc(k)}">{esc(why)}</p>' for k, why in data.no_plot.items()]
    parts.append('</section><section id="samples"><h2>Samples</h2><p class="note">Per source, a seeded sample '
                 "of the kept documents and, for every drop reason, of the dropped ones with the rule's "
                 "numbers (the same documents whatever the number of workers).</p>")
    for view in data.sources:
        parts.append(f'<details class="source" data-source="{esc(view.name)}" open><summary>{esc(view.name)} '
                     f"({esc(view.set_name)}): {view.kept:,} kept, "
                     f"{sum(n for n, _r in view.drops.values()):,} dropped</summary>")
        parts.append('<div class="group kept" data-group="kept"><h3>Kept</h3>')
        parts += [sample_html(r, limit) for r in view.kept_samples[:per_group]] or \
            ['<p class="note">no document was kept</p>']
        parts.append("</div>")
        if view.drops:
            parts.append("<h3>Dropped</h3>")
        for group, (count, records) in sorted(view.drops.items(), key=lambda kv: (-kv[1][0], kv[0])):
            parts.append(f'<div class="group dropped" data-group="{esc(group)}"><h4>{esc(group)} '
                         f"({count:,} dropped)</h4>")
            parts += [sample_html(r, limit, numbers=True) for r in records[:per_group]]
            parts.append("</div>")
        parts.append("</details>")
    parts.append('</section><section id="duplicates"><h2>Near-duplicates</h2>')
    if not data.dedup:
        parts.append('<p class="note">Deduplication is off in this build.</p>')
    elif not data.pairs:
        parts.append('<p class="note">No duplicates were removed.</p>')
    else:
        parts.append('<p class="note">A removed document next to the one it duplicates: words only the kept '
                     "one has are struck out, words only the removed one has are marked green.</p>")
        shown_pairs = data.pairs if per_group >= data.samples else data.pairs[:len(data.pairs) * per_group
                                                                              // max(data.samples, 1)]
        parts += [pair_html(p, limit) for p in shown_pairs]
    parts.append('</section><section id="pii"><h2>PII</h2>')
    pii = [(v.name, e, r) for v in data.sources for e, rs in v.pii.items() for r in rs[:per_group]]
    if not data.pii:
        parts.append('<p class="note">PII scrubbing is off in this build.</p>')
    elif not pii:
        parts.append('<p class="note">No PII was found (or the audit is off, so no positions were kept).</p>')
    else:
        parts.append('<p class="note">Passages where PII was replaced: the placeholders are marked; the '
                     "values are never kept.</p>")
        for name, entity, rec in pii:
            parts.append(f"<h4>{esc(name)}: {esc(entity)}</h4>{marked_html(rec, max(limit, MIN_TEXT_CHARS))}")
    parts.append('</section><section id="tokenizers"><h2>Tokenizers</h2>')
    shown = [v for v in data.sources if v.splits]
    if not shown:
        parts.append('<p class="note">No tokenizer is configured.</p>')
    else:
        parts.append('<p class="note">The same passage split by each vocabulary; each colour is one token (a '
                     "dashed box is several tokens that only decode together).</p>")
    for view in shown:
        parts.append(f'<div class="passage" data-source="{esc(view.name)}"><h3>{esc(view.name)}</h3>')
        parts += [split_html(s) for s in view.splits]
        parts.append("</div>")
    parts.append(f"</section></main><script>{SCRIPT}</script></body></html>\n")
    return "".join(parts)


def fit_page(data: PageData, sample_chars: int, per_group: int, max_bytes: int) -> tuple[str, int, int]:
    """The page within `max_bytes`: texts cut shorter first, then fewer samples per group.

    Returns:
        The page, and the text limit and samples per group it was drawn with.
    """
    limit, n = sample_chars, per_group
    while True:
        page = render_page(data, limit, n)
        if len(page.encode("utf-8")) <= max_bytes or (n == 0 and limit <= MIN_TEXT_CHARS):
            return page, limit, n
        if limit > MIN_TEXT_CHARS:
            limit = max(MIN_TEXT_CHARS, limit // 2)
        else:
            n -= 1


__all__ = ["PageData", "SourceView", "diff_html", "fit_page", "no_text", "render_page", "word_changes"]
