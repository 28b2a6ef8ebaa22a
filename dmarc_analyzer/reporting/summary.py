"""The management summary as files: self-contained HTML, PDF and Markdown.

The page is laid out once per format by a Jinja template; every word goes
through the language's catalogue and every number and date through its
formats. Reporter-controlled text (organization names, domains, selectors)
is escaped by the templates, never trusted as markup.
"""

import base64
import re
from dataclasses import dataclass
from pathlib import Path

from dmarc_analyzer.analysis.causes import bucket_of
from dmarc_analyzer.analysis.findings import VendorFailures
from dmarc_analyzer.analysis.management import (
    Action,
    Headline,
    ManagementSummary,
    Section,
    TrendPoint,
    display_name,
)
from dmarc_analyzer.analysis.overview import Policy
from dmarc_analyzer.errors import DmarcAnalyzerError
from dmarc_analyzer.i18n import ENGLISH, N_, Language, Text, clip, language
from dmarc_analyzer.reporting.labels import BUCKET_LABELS, CAUSE_LABELS, POLICY_LABELS

FORMATS = ("html", "pdf", "md")
TEMPLATES = Path(__file__).parent / "templates"
LISTED_ROWS = 10
LISTED_NAMES = 20
CHART_TITLES = {
    "daily-volume": N_("Messages per day, by kind of sender"),
    "pass-rate-trend": N_("DMARC pass rate, period by period"),
    "failing-vendors": N_("Messages failing DKIM, by sending vendor"),
    "causes": N_("Why messages failed DKIM"),
}


def write_summary(
    summary: ManagementSummary,
    out_dir: Path,
    formats: tuple[str, ...] = ("html",),
    language_code: str = ENGLISH,
) -> list[Path]:
    """Write the summary in each of `formats` under `out_dir`; return the
    paths written, pages first, then the Markdown's chart images."""
    chosen = language(language_code)
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise DmarcAnalyzerError(f"unknown format {sorted(unknown)[0]!r}")
    from dmarc_analyzer.reporting.charts import render_charts

    charts = render_charts(summary, chosen)
    try:
        return _write(summary, out_dir, formats, chosen, charts)
    except OSError as error:
        reason = error.strerror or str(error)
        raise DmarcAnalyzerError(f"cannot write to {out_dir}: {reason}") from error


def _write(summary, out_dir: Path, formats, chosen: Language, charts) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = file_stem(summary, chosen)
    pages, images = [], []
    if "html" in formats or "pdf" in formats:
        html = render_html(summary, chosen, charts)
        if "html" in formats:
            pages.append(_replace(out_dir / f"{stem}.html", html.encode("utf-8")))
        if "pdf" in formats:
            pages.append(_replace(out_dir / f"{stem}.pdf", html_to_pdf(html)))
    if "md" in formats:
        chart_files = {name: f"{stem}-{name}.png" for name in charts}
        for name, png in charts.items():
            images.append(_replace(out_dir / chart_files[name], png))
        markdown = render_markdown(summary, chosen, chart_files)
        pages.append(_replace(out_dir / f"{stem}.md", markdown.encode("utf-8")))
    return pages + images


def _replace(path: Path, content: bytes) -> Path:
    """Write next to `path`, then rename: a full disk or a crash leaves the
    previous file whole, never half of a new one."""
    import os
    import tempfile

    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return path


def file_stem(summary: ManagementSummary, chosen: Language) -> str:
    """dmarc-summary[-domain]-FIRST_LAST[-language], safe on every system."""
    parts = ["dmarc-summary"]
    if summary.overall.domain:
        parts.append(_domain_in_file_name(summary.overall.domain))
    parts.append(f"{summary.period.first}_{summary.period.last}")
    if chosen.code != ENGLISH:
        parts.append(chosen.code)
    return "-".join(parts)


def _domain_in_file_name(domain: str) -> str:
    """The domain in characters safe on every system; one that had to be
    changed or cut gets a hash of itself, so that two never share a name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", domain).strip(".-")[:60]
    if safe == domain:
        return safe
    import hashlib

    digest = hashlib.sha256(domain.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{safe}-{digest[:10]}"


def render_html(
    summary: ManagementSummary, chosen: Language, charts: dict[str, bytes]
) -> str:
    sources = {
        name: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        for name, png in charts.items()
    }
    return _render("summary.html.j2", summary, chosen, sources)


def render_markdown(
    summary: ManagementSummary, chosen: Language, chart_files: dict[str, str]
) -> str:
    return _render("summary.md.j2", summary, chosen, chart_files)


def html_to_pdf(html: str) -> bytes:
    """The HTML page printed to PDF; it may load nothing but its own data: URLs."""
    try:
        import weasyprint
        from weasyprint.urls import URLFetcher
    except OSError as error:  # WeasyPrint needs Pango from the system
        raise DmarcAnalyzerError(
            f"cannot write PDF: {error} (install Pango, e.g. Debian's libpango-1.0-0)"
        ) from error
    fetcher = URLFetcher(allowed_protocols={"data"})
    return weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf()


def _render(template: str, summary, chosen: Language, charts: dict[str, str]) -> str:
    environment = _environment(template.endswith(".html.j2"))
    environment.install_gettext_callables(
        chosen.gettext, chosen.ngettext, newstyle=True
    )
    page = environment.get_template(template)
    return page.render(
        summary=summary,
        view=SummaryView(summary, chosen),
        lang=chosen,
        charts=charts,
        chart_titles={name: chosen.gettext(CHART_TITLES[name]) for name in charts},
    )


def _environment(html: bool):
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=html,
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["md"] = markdown_escape
    environment.filters["clip"] = clip
    return environment


def markdown_escape(value: object) -> str:
    """Reporter-controlled text as one inert line of a Markdown table cell."""
    cleaned = " ".join(str(value).split())
    for special in ("\\", "|", "*", "_", "`", "[", "]", "<", ">", "#", "&", "~", "$"):
        cleaned = cleaned.replace(special, "\\" + special)
    return cleaned


def sentence(value: Text, chosen: Language) -> str:
    """A text that starts a line: "your own mail system" gets its capital."""
    shown = value.render(chosen)
    return shown[:1].upper() + shown[1:]


@dataclass(frozen=True, slots=True)
class FigureView:
    label: str
    value: str
    change: str | None


class SummaryView:
    """What the templates show, already in the reader's language."""

    def __init__(self, summary: ManagementSummary, chosen: Language):
        self.summary = summary
        self.lang = chosen

    @property
    def title(self) -> str:
        section = self.summary.overall
        if section.domain:
            return clip(section.domain)
        domains = section.overview.domains
        if not domains:
            return self.lang.gettext("all domains")
        if len(domains) <= 3:
            return ", ".join(clip(domain) for domain in domains)
        return self.lang.ngettext("{n} domain", "{n} domains", len(domains)).format(
            n=self.lang.number(len(domains))
        )

    @property
    def period(self) -> str:
        return self.lang.date_range(self.summary.period.first, self.summary.period.last)

    @property
    def previous_period(self) -> str | None:
        before = self.summary.previous_period
        return self.lang.date_range(before.first, before.last) if before else None

    def text(self, value: Text) -> str:
        return value.render(self.lang)

    def sentence(self, value: Text) -> str:
        return sentence(value, self.lang)

    @property
    def coverage(self) -> str | None:
        """Says so when reports cover only some days of the period."""
        days_with_reports = len(self.summary.overall.overview.daily)
        if self.summary.empty or days_with_reports >= self.summary.period.days:
            return None
        return self.lang.gettext(
            "Reports start on {days} of the {period_days} days of this period."
        ).format(
            days=self.lang.number(days_with_reports),
            period_days=self.lang.number(self.summary.period.days),
        )

    @property
    def silence(self) -> str | None:
        """An empty period after one with reports: the feed may be broken."""
        before = self.summary.overall.previous
        if not self.summary.empty or before is None:
            return None
        return self.lang.gettext(
            "The period before had {messages} messages in {reports} reports: check "
            "that the mailbox of your rua= address still receives reports."
        ).format(
            messages=self.lang.number(before.messages),
            reports=self.lang.number(self.summary.overall.previous_reports),
        )

    def names(self, names: list[str]) -> tuple[list[str], int]:
        """The first names of a list, and how many more there are."""
        return names[:LISTED_NAMES], max(0, len(names) - LISTED_NAMES)

    def figures(self, section: Section) -> list[FigureView]:
        now, before, lang = section.headline, section.previous, self.lang

        def count(label: str, field: str) -> FigureView:
            value = getattr(now, field)
            earlier = getattr(before, field) if before else None
            change = self._count_change(value, earlier)
            return FigureView(lang.gettext(label), lang.number(value), change)

        def rate(label: str, field: str) -> FigureView:
            value = getattr(now, field)
            earlier = getattr(before, field) if before else None
            change = self._rate_change(value, earlier)
            return FigureView(lang.gettext(label), lang.percent(value), change)

        return [
            count(N_("Messages reported"), "messages"),
            rate(N_("DMARC pass rate"), "dmarc_pass_rate"),
            rate(N_("DKIM aligned pass rate"), "dkim_aligned_rate"),
            count(N_("Failing DKIM from your senders and vendors"), "failing_known"),
            count(N_("Likely spoofing (failing DKIM and SPF)"), "spoofing"),
            FigureView(
                lang.gettext("Policy in force"),
                self.policy(section.policies),
                self._policy_change(section),
            ),
        ]

    def policy(self, policies: list[Policy]) -> str:
        if not policies:
            return self.lang.gettext("n/a")
        if len(policies) == 1:
            return self._policy_name(policies[0])
        if len(policies) <= 3:
            return ", ".join(f"{clip(p.domain)}: {clip(p.p or '?')}" for p in policies)
        counts: dict[str, int] = {}
        for policy in policies:  # short names: the domains' pages have the rest
            name = clip(policy.p or "?")
            counts[name] = counts.get(name, 0) + 1
        return ", ".join(
            self.lang.ngettext(
                "{policy} ({count} domain)", "{policy} ({count} domains)", n
            ).format(policy=name, count=self.lang.number(n))
            for name, n in sorted(counts.items())
        )

    def _policy_name(self, policy: Policy) -> str:
        known = POLICY_LABELS.get(policy.p or "")
        name = self.lang.gettext(known) if known else clip(policy.p or "?")
        if policy.pct is not None and policy.pct != 100:
            name += f" (pct={policy.pct})"
        return name

    def _policy_change(self, section: Section) -> str | None:
        if section.previous is None:
            return None
        before = self.policy(section.previous_policies)
        if before == self.policy(section.policies):
            return self.lang.gettext("unchanged")
        return self.lang.gettext("was {policy}").format(policy=before)

    def _count_change(self, now: int, before: int | None) -> str | None:
        if before is None:
            return None
        change = self.lang.signed(now - before)
        if before:
            change += f" ({self.lang.signed_percent((now - before) / before)})"
        return change

    def _rate_change(self, now: float | None, before: float | None) -> str | None:
        if now is None or before is None:
            return None
        return self.lang.points(now - before)

    def actions(self, section: Section) -> tuple[list[Action], int]:
        shown = section.actions[:LISTED_ROWS]
        return shown, len(section.actions) - len(shown)

    def vendor(self, vendor: VendorFailures) -> str:
        return display_name(vendor).render(self.lang)

    def cause(self, code: str) -> str:
        return self.lang.gettext(CAUSE_LABELS.get(code, code))

    def bucket(self, code: str) -> str:
        return self.lang.gettext(BUCKET_LABELS.get(code, code))

    def cause_bucket(self, code: str) -> str:
        return self.bucket(bucket_of(code))


def summary_dict(summary: ManagementSummary, chosen: Language) -> dict:
    """The summary's figures for scripts: codes and numbers, with the
    action texts in the chosen language."""
    return {
        "period": _period_dict(summary.period),
        "previous_period": _period_dict(summary.previous_period),
        "language": chosen.code,
        **_section_dict(summary.overall, chosen),
        "domains": [_section_dict(section, chosen) for section in summary.domains],
        "more_domains": summary.more_domains,
        "trend": [_trend_dict(point) for point in summary.trend],
    }


def _section_dict(section: Section, chosen: Language) -> dict:
    return {
        "domain": section.domain,
        "domains_covered": section.overview.domains,
        "reporters": section.overview.reporters,
        "reports": section.overview.reports,
        "headline": _headline_dict(section.headline),
        "previous": _headline_dict(section.previous) if section.previous else None,
        "policies": [_policy_dict(policy) for policy in section.policies],
        "dkim_failed_by_cause": section.cause_messages,
        "actions": [
            {
                "code": action.code,
                "domain": action.domain,
                "vendor": action.vendor,
                "messages": action.messages,
                "title": sentence(action.title, chosen),
                "detail": action.detail.render(chosen),
            }
            for action in section.actions
        ],
        "failing_vendors": [
            {
                "vendor": vendor.vendor,
                "dkim_failed": vendor.dkim_failed,
                "messages": vendor.messages,
                "cause": vendor.cause,
            }
            for vendor in section.failing_vendors
        ],
        "new_senders": [s.source.source_ip for s in section.new_senders],
        "senders": len(section.senders),
    }


def _headline_dict(headline: Headline) -> dict:
    return {
        "messages": headline.messages,
        "dmarc_pass": headline.dmarc_pass,
        "dkim_aligned_pass": headline.dkim_aligned_pass,
        "dmarc_pass_rate": _rounded(headline.dmarc_pass_rate),
        "dkim_aligned_pass_rate": _rounded(headline.dkim_aligned_rate),
        "dkim_failed_known_senders": headline.failing_known,
        "dkim_failed_spoofing": headline.spoofing,
        "dkim_failed_forwarded": headline.forwarded,
    }


def _policy_dict(policy: Policy) -> dict:
    return {"domain": policy.domain, "p": policy.p, "sp": policy.sp, "pct": policy.pct}


def _trend_dict(point: TrendPoint) -> dict:
    return {
        **_period_dict(point.period),
        "messages": point.messages,
        "dmarc_pass": point.dmarc_pass,
        "dmarc_pass_rate": _rounded(point.dmarc_pass_rate),
    }


def _period_dict(period) -> dict | None:
    if period is None:
        return None
    return {"first": period.first.isoformat(), "last": period.last.isoformat()}


def _rounded(rate: float | None) -> float | None:
    return None if rate is None else round(rate, 4)
