"""``petition audit stats``: count the log's figures, verified, and show them (issue 17 item 5).

:func:`fetch_verified_log` reads the whole log the way any mirror serves it, as entry bundles
(c2sp.org/tlog-tiles), and believes it only once it is tied to a checkpoint the trust policy
accepts: the latest checkpoint is verified as ``petition audit log`` verifies it (the log key
from the pinned directory, the witness quorum), the entries must hash to its root, and every
checkpoint this auditor accepted before must be the root of a prefix of the same entries (the
log only grew). Nothing else the server says is used. The figures are then counted by
:mod:`crypto.case_stats`, the same function the server runs for ``GET /v1/stats``, and
:func:`compare_with_server` shows whether the server's figures are the ones its log gives.

Output: a terminal table (:func:`render_table`), canonical JSON, or a self-contained HTML
report (:func:`render_html`) with SVG charts drawn by matplotlib and embedded inline: no
script, no external resource, a Content-Security-Policy that forbids loading any. Text is in
Chinese or English from the catalogs every command and the web UI share (cli_support/i18n.py):
one catalog system, so a word of the report is the word the other commands use. The caller
passes the :class:`~cli_support.i18n.Translator` (the language the command chose), so the
table and the report can be drawn in either language in one process. Charts use the
WenQuanYi Micro Hei font when it is installed (``./dev.sh`` installs fonts-wqy-microhei); without
a Chinese font they label bureaus by id and axes in English, rather than draw empty boxes.
"""

from __future__ import annotations

import html
import io
import os
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from cli_support.i18n import N_, Translator
from client.auditor import kept_checkpoints, latest_checkpoint
from client.errors import AuditFailure, InvalidInput, ServerMisbehaved
from client.session import Session, Witnessing
from crypto import cjson, merkle
from crypto.case_stats import CaseStats, Figures, PeriodStats, count_leaves, decode
from crypto.checkpoint import Checkpoint
from crypto.errors import MalformedInput
from crypto.objects import Directory
from crypto.tiles import bundles_for_size, decode_bundle

#: The ``lang`` attribute of the HTML report: the script matters to fonts and screen readers.
HTML_LANG = {"zh": "zh-Hans", "en": "en"}
CJK_FONT = "WenQuanYi Micro Hei"
#: Findings listed in full in the terminal; the JSON and the HTML list them all.
TERMINAL_PROBLEMS = 20
HTML_PROBLEMS = 1000
#: How far the server's day may be from this machine's (UTC days; time zones and midnight).
DAY_TOLERANCE = 1


# -- the verified log ------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedLog:
    checkpoint: Checkpoint
    witnessing: Witnessing
    leaves: list[bytes]
    kept_checked: int  # earlier checkpoints of this auditor proven to be prefixes


def fetch_verified_log(
    session: Session,
    *,
    at_least: int = 0,
    on_entries: Callable[[int, int], None] | None = None,
) -> VerifiedLog:
    """Every entry of the log's latest checkpoint, from its entry bundles, verified.

    Raises :class:`AuditFailure` when the checkpoint lacks the policy's witnesses, when the
    entries do not hash to its root, or when a checkpoint this auditor accepted before is not
    the root of a prefix of them (a shrunk or rewritten log).
    """
    kept = kept_checkpoints(session, session.home.load_checkpoints(session.log))
    floor = max([at_least, *(old.size for old in kept)])
    verified, witnessing = latest_checkpoint(session, floor)
    current = verified.checkpoint
    if not witnessing.witnessed:
        raise AuditFailure(
            f"the log's checkpoint of size {current.size} is not witnessed as the policy "
            f"requires ({witnessing.shortfall})"
        )
    leaves: list[bytes] = []
    for bundle in bundles_for_size(current.size):
        data = session.transport.call("GET", "/log/" + bundle.path()).body
        try:
            leaves += decode_bundle(data, bundle.width)
        except MalformedInput as exc:
            raise ServerMisbehaved(f"the entry bundle {bundle.path()}: {exc.message}") from exc
        if on_entries is not None:
            on_entries(len(leaves), current.size)
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    if merkle.root_from_leaf_hashes(hashes) != current.root_hash:
        raise AuditFailure(
            f"the entries do not hash to the signed root of size {current.size}: "
            "the log's content was altered"
        )
    for old in kept:
        if old.size > current.size:
            raise AuditFailure(
                f"the log shrank: a checkpoint of size {old.size} was seen before, "
                f"now {current.size}"
            )
        if merkle.root_from_leaf_hashes(hashes[: old.size]) != old.root_hash:
            raise AuditFailure(
                f"the log of size {current.size} is not an extension of the one of size "
                f"{old.size} seen before: history was rewritten"
            )
    return VerifiedLog(current, witnessing, leaves, len(kept))


def count_log(log: VerifiedLog, directory: Directory, period: str, today: date) -> CaseStats:
    """The figures of the verified log on ``today``; a day before its last entry is refused."""
    return count_leaves(log.leaves, directory, period=period, today=today)


# -- comparing with the server's figures -----------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    server: dict[str, Any]
    ours: dict[str, Any]
    differences: tuple[str, ...]  # paths of the members that differ, at most a few dozen

    @property
    def matches(self) -> bool:
        return not self.differences


def fetch_server_stats(session: Session, period: str) -> dict[str, Any]:
    answer = session.transport.call("GET", f"/v1/stats?period={period}")
    try:
        value = decode(answer.body)
        date.fromisoformat(value["today"])
        size = value["tree_size"]
    except (MalformedInput, KeyError, TypeError, ValueError) as exc:
        raise ServerMisbehaved(f"the server's statistics are malformed: {exc}") from exc
    if type(size) is not int or size < 0 or value.get("period") != period:
        raise ServerMisbehaved("the server's statistics name no tree size or another period")
    return value


def compare_with_server(
    session: Session,
    period: str,
    local_today: date,
    *,
    on_entries: Callable[[int, int], None] | None = None,
) -> tuple[Comparison, VerifiedLog, CaseStats]:
    """Recount the entries the server's figures cover, on the server's day, and compare.

    The server counts its published checkpoint on its own day; the auditor takes the same
    number of entries from a checkpoint it verified (at least as large) and the same day. A
    server day more than a day away from this machine's is itself a finding.
    """
    server = fetch_server_stats(session, period)
    size: int = server["tree_size"]
    day = date.fromisoformat(server["today"])
    log = fetch_verified_log(session, at_least=size, on_entries=on_entries)
    if log.checkpoint.size < size:
        raise AuditFailure(
            f"the server counted {size} entries, but its latest checkpoint holds only "
            f"{log.checkpoint.size}"
        )
    ours = count_leaves(log.leaves[:size], session.directory(), period=period, today=day)
    ours_json = cjson.decode_object(ours.encode())
    differences = list(_differences(server, ours_json, ""))
    if abs((day - local_today).days) > DAY_TOLERANCE:
        differences.insert(
            0, f"today: the server counts on {day}, this machine's day is {local_today}"
        )
    return Comparison(server, ours_json, tuple(differences[:40])), log, ours


def _differences(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        found: list[str] = []
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                found.append(f"{path}/{key}: only in {'ours' if key in b else 'the server'}")
            else:
                found += _differences(a[key], b[key], f"{path}/{key}")
        return found
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items on the server, {len(b)} counted here"]
        found = []
        for position, (x, y) in enumerate(zip(a, b, strict=True)):
            found += _differences(x, y, f"{path}/{position}")
        return found
    if a != b or type(a) is not type(b):
        return [f"{path or '/'}: the server says {_short(a)}, the log gives {_short(b)}"]
    return []


def _short(value: Any) -> str:
    text = cjson.encode(value).decode("utf-8") if value is not None else "null"
    return text if len(text) <= 60 else text[:57] + "..."


# -- shared wording ----------------------------------------------------------------------------

PROBLEM_NAMES = {
    "malformed": N_("not a log entry"),
    "bad_signature": N_("bureau signature does not verify"),
    "future_day": N_("dated after today"),
    "backdated": N_("backdated (days go backwards along the log)"),
    "not_handling": N_("signed by a bureau not handling the petition"),
    "impossible": N_("impossible history (refused by the statutory clock)"),
}
PERIOD_NAMES = {"month": N_("month"), "year": N_("year"), "all": N_("all time")}

LOG_LINE = N_(
    "Log of %(server)s: %(size)s entries, verified against the checkpoint (%(witnessing)s)"
)
COUNTED_LINE = N_(
    "Counted on %(today)s, by %(period)s; every figure of a petition is in the period of "
    "its receipt"
)
ALL_CHECKS_PASSED = N_(
    "Checks: every signature verifies, days never go backwards, every history is possible."
)
HOW_COUNTED = N_(
    "How it is counted: every deadline and whether it was met come from the statutory clock "
    "of the 2022 Regulations; an overdue duty is one still open after its due day. Recount it "
    "yourself: petition audit stats --json."
)


def witnessing_text(witnessing: Witnessing, tr: Translator) -> str:
    """:meth:`Witnessing.describe` in ``tr``'s language: the words the other commands use."""
    if not witnessing.witnessed:
        return tr.gettext(
            "not yet witnessed: %(missing)s of %(known)s witness cosignatures missing",
            missing=witnessing.missing,
            known=witnessing.known,
        )
    if witnessing.cosigned_by:
        return tr.gettext("witnessed by %(witnesses)s", witnesses=", ".join(witnessing.cosigned_by))
    return tr.gettext("no witness cosignature required by the policy")


def _log_line(log: VerifiedLog, server: str, tr: Translator) -> str:
    return tr.gettext(
        LOG_LINE,
        server=server,
        size=log.checkpoint.size,
        witnessing=witnessing_text(log.witnessing, tr),
    )


def _counted_line(stats: CaseStats, tr: Translator) -> str:
    return tr.gettext(
        COUNTED_LINE,
        today=stats.today.isoformat(),
        period=tr.gettext(PERIOD_NAMES[stats.period]),
    )


def _bureau_label(figures: Figures, tr: Translator) -> str:
    if figures.bureau_id is None:
        return tr.gettext("All bureaus")
    if figures.name:
        return f"{figures.name} ({figures.bureau_id})"
    return figures.bureau_id


def _period_label(period: str, tr: Translator) -> str:
    return tr.gettext("all time") if period == "all" else period


def _fraction(part: int, whole: int) -> str:
    return f"{part}/{whole}" if whole else "-"


def _median(figures: Figures) -> str:
    median = figures.median_days_to_answer
    return "-" if median is None else str(median)


def _routes(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{to}:{n}" for to, n in sorted(counter.items())) or "-"


def _columns(tr: Translator) -> list[tuple[str, Callable[[Figures], str]]]:
    _ = tr.gettext
    return [
        (_("Bureau"), lambda f: _bureau_label(f, tr)),
        # Submitted to the bureau itself ("Received" is the event's name, and wider in Chinese).
        (_("Received here"), lambda f: str(f.received)),
        (_("Transferred in"), lambda f: str(f.transferred_in)),
        (
            _("Acknowledged in 15 days"),
            lambda f: _fraction(f.duties["acknowledge"].in_time, f.duties["acknowledge"].started),
        ),
        (
            _("Decided in 60 (+30) days"),
            lambda f: _fraction(f.duties["decide"].in_time, f.duties["decide"].started),
        ),
        (_("Overdue now"), lambda f: str(f.overdue)),
        (_("Median days to answer"), _median),
        (_("Transferred to"), lambda f: _routes(f.transferred + f.assigned)),
        (_("Not competent"), lambda f: str(sum(f.not_competent.values()))),
        (
            _("Reviews (upheld/changed)"),
            lambda f: f"{f.reviews['requested']} ({f.reviews['upheld']}/{f.reviews['changed']})",
        ),
        (
            _("Re-reviews (upheld/changed)"),
            lambda f: (
                f"{f.re_reviews['requested']} ({f.re_reviews['upheld']}/{f.re_reviews['changed']})"
            ),
        ),
        (
            _("Answers complained about"),
            lambda f: str(f.complained_reviews + f.complained_re_reviews),
        ),
    ]


# -- terminal --------------------------------------------------------------------------------


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(_pad(cell, widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def render_table(
    stats: CaseStats, tr: Translator, *, log: VerifiedLog | None = None, server: str = ""
) -> str:
    """The figures as a plain-text table per period, then the findings."""
    _ = tr.gettext
    lines: list[str] = []
    if log is not None:
        lines.append(_log_line(log, server, tr))
    lines.append(_counted_line(stats, tr))
    columns = _columns(tr)
    if not stats.periods:
        lines.append(_("No petition has been received yet."))
    for period in stats.periods:
        lines.append("")
        lines.append(f"== {_period_label(period.period, tr)} ==")
        rows = [[title for title, _cell in columns]]
        for figures in (*period.bureaus, period.total):
            rows.append([cell(figures) for _title, cell in columns])
        lines += _table(rows)
        if period.most_reviewed:
            names = {f.bureau_id: _bureau_label(f, tr) for f in period.bureaus}
            lines.append(
                _("Reviewed most often (Art. 41):")
                + " "
                + "; ".join(f"{names[c.bureau_id]} {c.total}" for c in period.most_reviewed)
            )
    lines.append("")
    lines += _problem_lines(stats, tr)
    return "\n".join(lines)


def _problem_lines(stats: CaseStats, tr: Translator) -> list[str]:
    _ = tr.gettext
    counts = stats.problem_counts()
    total = sum(counts.values())
    if not total:
        return [_(ALL_CHECKS_PASSED)]
    lines = [
        tr.ngettext(
            "FINDINGS: %(num)s entry did not pass the auditor's checks",
            "FINDINGS: %(num)s entries did not pass the auditor's checks",
            total,
        )
    ]
    for kind, number in counts.items():
        if number:
            lines.append(f"  {_(PROBLEM_NAMES[kind])}: {number}")
    for problem in stats.problems[:TERMINAL_PROBLEMS]:
        lines.append(
            f"  #{problem.leaf_index} {problem.kind} {problem.petition_id or '-'} "
            f"{problem.bureau_id or '-'} {problem.event or '-'}: {problem.message}"
        )
    if total > TERMINAL_PROBLEMS:
        more = tr.gettext(
            "... and %(more)s more (see --json or --html)", more=total - TERMINAL_PROBLEMS
        )
        lines.append("  " + more)
    return lines


# -- charts ----------------------------------------------------------------------------------


def _has_cjk_font() -> bool:
    from matplotlib import font_manager

    return any(font.name == CJK_FONT for font in font_manager.fontManager.ttflist)


def _svg(figure: Any) -> str:
    """The figure as inline SVG (text as paths: the report needs no font to show it)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def render_charts(stats: CaseStats, tr: Translator) -> list[tuple[str, str]]:
    """(caption, inline SVG) of each chart; labels fall back to ids and English without a
    Chinese font, so no glyph is ever drawn as an empty box."""
    import matplotlib
    from matplotlib.figure import Figure

    cjk = _has_cjk_font()
    text = tr.gettext if cjk or tr.language == "en" else (lambda message: message)
    rc: dict[Any, Any] = {
        "font.family": [CJK_FONT, "DejaVu Sans"] if cjk else ["DejaVu Sans"],
        "svg.fonttype": "path",
        "svg.hashsalt": "sealed-petition-stats",
        "axes.unicode_minus": False,
    }
    overall = _overall(stats)
    charts: list[tuple[str, str]] = []
    with matplotlib.rc_context(rc):
        bureaus = [f for f in overall.bureaus if f.received or f.transferred_in or f.overdue]
        labels = [(f.name if cjk and f.name else f.bureau_id) or "?" for f in bureaus]
        if bureaus:
            series = [
                (text(N_("Received")), [f.received + f.transferred_in for f in bureaus]),
                (
                    text(N_("Acknowledged in 15 days")),
                    [f.duties["acknowledge"].in_time for f in bureaus],
                ),
                (
                    text(N_("Decided in 60 (+30) days")),
                    [f.duties["decide"].in_time for f in bureaus],
                ),
                (text(N_("Overdue now")), [f.overdue for f in bureaus]),
            ]
            figure = Figure(figsize=(8, 3.6))
            axes = figure.add_subplot()
            width = 0.8 / len(series)
            for position, (name, values) in enumerate(series):
                axes.bar(
                    [i + position * width for i in range(len(bureaus))], values, width, label=name
                )
            axes.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(bureaus))])
            axes.set_xticklabels(labels)
            axes.set_ylabel(text(N_("Petitions")))
            axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
            charts.append((tr.gettext("Deadlines per bureau"), _svg(figure)))
        if len(stats.periods) > 1:
            figure = Figure(figsize=(8, 3.2))
            axes = figure.add_subplot()
            names = [p.period for p in stats.periods]
            bottom = [0] * len(names)
            for index, figures in enumerate(stats.periods[0].bureaus):
                values = [p.bureaus[index].received for p in stats.periods]
                if any(values):
                    label = (figures.name if cjk and figures.name else figures.bureau_id) or "?"
                    axes.bar(names, values, bottom=bottom, label=label)
                    bottom = [b + v for b, v in zip(bottom, values, strict=True)]
            axes.set_ylabel(text(N_("Received")))
            axes.tick_params(axis="x", labelrotation=45)
            axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
            charts.append((tr.gettext("Petitions received per period"), _svg(figure)))
        reviewed = overall.most_reviewed
        if reviewed:
            by_id = {f.bureau_id: f for f in overall.bureaus}
            figure = Figure(figsize=(8, 0.6 + 0.5 * len(reviewed)))
            axes = figure.add_subplot()
            names = [
                (by_id[c.bureau_id].name if cjk and by_id[c.bureau_id].name else c.bureau_id) or "?"
                for c in reviewed
            ]
            axes.barh(names[::-1], [c.reviews for c in reviewed][::-1], label=text(N_("Reviews")))
            axes.barh(
                names[::-1],
                [c.re_reviews for c in reviewed][::-1],
                left=[c.reviews for c in reviewed][::-1],
                label=text(N_("Re-reviews")),
            )
            axes.set_xlabel(text(N_("Requests for review of the bureau's answers")))
            axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
            charts.append((tr.gettext("Reviewed most often (Art. 41)"), _svg(figure)))
    return charts


def _overall(stats: CaseStats) -> PeriodStats:
    """Every period added up (the charts show the whole log)."""
    if len(stats.periods) == 1:
        return stats.periods[0]
    bureaus: list[Figures] = []
    total = Figures(None)
    for index, first in enumerate(stats.periods[0].bureaus if stats.periods else ()):
        figures = Figures(first.bureau_id, first.name, first.parent)
        for period in stats.periods:
            figures.add(period.bureaus[index])
        bureaus.append(figures)
        total.add(figures)
    return PeriodStats("all", tuple(bureaus), total)


# -- HTML --------------------------------------------------------------------------------------

_STYLE = """
body{font-family:"WenQuanYi Micro Hei","Noto Sans CJK SC",sans-serif;margin:2em auto;
max-width:72em;padding:0 1em;color:#1b1b1b;line-height:1.5}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border:1px solid #bbb;padding:.3em .5em;text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}thead th{background:#eef}
tr.total td{font-weight:bold;background:#f6f6f6}
figure{margin:1em 0}figure svg{max-width:100%;height:auto}
.finding{color:#a00000}.ok{color:#006000}
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def render_html(
    stats: CaseStats,
    tr: Translator,
    *,
    log: VerifiedLog | None = None,
    server: str = "",
) -> str:
    """A self-contained HTML report: inline CSS and SVG, no script, nothing fetched."""
    _ = tr.gettext
    e = html.escape
    page_title = _("Petition statistics")
    checks = _("Checks")
    details = _("Details")
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{HTML_LANG[tr.language]}"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(page_title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(page_title)}</h1>",
    ]
    if log is not None:
        parts.append(
            f"<p>{e(_log_line(log, server, tr))}"
            f"<br><code>{e(cjson.b64encode(log.checkpoint.root_hash))}</code></p>"
        )
    parts.append(f"<p>{e(_counted_line(stats, tr))}</p>")
    for caption, svg in render_charts(stats, tr):
        parts.append(f"<figure>{svg}<figcaption>{e(caption)}</figcaption></figure>")
    columns = _columns(tr)
    if not stats.periods:
        parts.append(f"<p>{e(_('No petition has been received yet.'))}</p>")
    for period in stats.periods:
        parts.append(f"<section><h2>{e(_period_label(period.period, tr))}</h2><table><thead><tr>")
        parts += [f'<th scope="col">{e(title)}</th>' for title, _cell in columns]
        parts.append("</tr></thead><tbody>")
        for figures in (*period.bureaus, period.total):
            row_class = ' class="total"' if figures.bureau_id is None else ""
            parts.append(f"<tr{row_class}>")
            parts += [f"<td>{e(cell(figures))}</td>" for _title, cell in columns]
            parts.append("</tr>")
        parts.append("</tbody></table>")
        if period.most_reviewed:
            names = {f.bureau_id: _bureau_label(f, tr) for f in period.bureaus}
            parts.append(f"<p>{e(_('Reviewed most often (Art. 41):'))}</p><ol>")
            parts += [f"<li>{e(names[c.bureau_id])}: {c.total}</li>" for c in period.most_reviewed]
            parts.append("</ol>")
        parts.append("</section>")
    parts.append(f"<section><h2>{e(checks)}</h2>")
    counts = stats.problem_counts()
    if not sum(counts.values()):
        parts.append(f'<p class="ok">{e(_problem_lines(stats, tr)[0])}</p>')
    else:
        parts.append(f'<p class="finding">{e(_problem_lines(stats, tr)[0])}</p><ul>')
        parts += [f"<li>{e(_(PROBLEM_NAMES[kind]))}: {n}</li>" for kind, n in counts.items() if n]
        parts.append("</ul><table><thead><tr>")
        for title in (_("Entry"), _("Finding"), _("Petition"), _("Bureau"), _("Event"), _("Day")):
            parts.append(f'<th scope="col">{e(title)}</th>')
        parts.append(f'<th scope="col">{e(details)}</th></tr></thead><tbody>')
        for problem in stats.problems[:HTML_PROBLEMS]:
            cells = (
                str(problem.leaf_index),
                _(PROBLEM_NAMES[problem.kind]),
                problem.petition_id or "-",
                problem.bureau_id or "-",
                problem.event or "-",
                problem.day.isoformat() if problem.day else "-",
                problem.message,
            )
            parts.append("<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in cells) + "</tr>")
        parts.append("</tbody></table>")
    parts.append("</section>")
    parts.append(f"<footer><p>{e(_(HOW_COUNTED))}</p></footer>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_new_file(path: os.PathLike[str], text: str) -> None:
    """Write the report to a new file (never over an existing one)."""
    try:
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise InvalidInput(f"cannot write {os.fspath(path)}: {exc.strerror}") from exc
