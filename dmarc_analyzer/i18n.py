"""Words, numbers and dates in the reader's language.

English is written in the code. Every other language is one gettext
catalogue, `locales/<code>/LC_MESSAGES/dmarc_analyzer.po`, compiled in
memory when it is first used: adding a language is adding that file.
Numbers and dates are formatted by Babel with the language's own rules.

Text that is built before the language is known (a fix chosen by the
analysis, say) is kept as a `Text`: its English template, marked with
`N_` so that the catalogue tools find it, and the values to put into it.
"""

import gettext
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path

from dmarc_analyzer.errors import DmarcAnalyzerError

ENGLISH = "en"
DOMAIN = "dmarc_analyzer"
LOCALES = Path(__file__).parent / "locales"


def N_(template: str) -> str:
    """Mark a template for the catalogue without translating it yet."""
    return template


@dataclass(frozen=True, slots=True)
class Text:
    """A sentence whose language is chosen when it is shown."""

    template: str
    values: tuple[tuple[str, object], ...] = ()  # (name, value): hashable

    def __str__(self) -> str:
        return _plain_text(self)

    def __bool__(self) -> bool:
        return bool(self.template)

    def render(self, language: "Language") -> str:
        values = {name: language.value(value) for name, value in self.values}
        return language.gettext(self.template).format(**values)


NO_TEXT = Text("")
LONGEST_NAME = 100
# Direction overrides and isolates from a report would turn the rest of a
# line around; zero-width characters would hide text.
_INVISIBLE = dict.fromkeys(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200B, 0x200E, 0x200F, 0xFEFF]
)


def clip(name: object, longest: int = LONGEST_NAME) -> str:
    """A reporter-controlled name made fit to show: without invisible
    direction controls, and cut short when it is longer than any real one."""
    shown = str(name).translate(_INVISIBLE)
    return shown if len(shown) <= longest else shown[: longest - 1] + "…"


@dataclass(frozen=True, slots=True)
class Rate:
    """A share put into a Text, shown as a percentage in the reader's way."""

    value: float


def text(template: str, **values: object) -> Text:
    return Text(template, tuple(sorted(values.items())))


class Language:
    """Translations and number/date formats of one language."""

    def __init__(self, code: str, translations: gettext.NullTranslations):
        self.code = code
        self._translations = translations

    def gettext(self, message: str) -> str:
        return self._translations.gettext(message) if message else ""

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return self._translations.ngettext(singular, plural, count)

    def number(self, value: int | float) -> str:
        from babel.numbers import format_decimal

        return format_decimal(value, locale=self.code)

    def percent(self, rate: float | None) -> str:
        from babel.numbers import format_percent

        if rate is None:
            return self.gettext("n/a")
        # Never round a real failure away: 0.04 % is "<0.1%", 99.96 % ">99.9%".
        if 0 < rate < 0.001:
            return "<" + format_percent(0.001, "#,##0.0%", locale=self.code)
        if 0.999 < rate < 1:
            return ">" + format_percent(0.999, "#,##0.0%", locale=self.code)
        return format_percent(rate, "#,##0.0%", locale=self.code)

    def points(self, change: float) -> str:
        """A change of a rate, in percentage points, with its sign."""
        from babel.numbers import format_decimal

        shown = format_decimal(change * 100, "+#,##0.0;-#,##0.0", locale=self.code)
        return self.gettext("{change} pp").format(change=shown)

    def signed_percent(self, change: float) -> str:
        from babel.numbers import format_percent

        return format_percent(change, "+#,##0.0%;-#,##0.0%", locale=self.code)

    def signed(self, change: int) -> str:
        from babel.numbers import format_decimal

        return format_decimal(change, "+#,##0;-#,##0", locale=self.code)

    def date(self, day: date) -> str:
        from babel.dates import format_date

        return format_date(day, format="medium", locale=self.code)

    def short_date(self, day: date) -> str:
        """Month and day, for chart axes."""
        from babel.dates import format_skeleton

        return format_skeleton("MMMd", day, locale=self.code)

    def month(self, day: date) -> str:
        """Month and year, for chart axes."""
        from babel.dates import format_skeleton

        return format_skeleton("yMMM", day, locale=self.code)

    def date_range(self, first: date, last: date) -> str:
        if first == last:
            return self.date(first)
        return self.gettext("{first} to {last}").format(
            first=self.date(first), last=self.date(last)
        )

    def value(self, value: object) -> str:
        """A value put into a Text: translated, formatted, or as written."""
        if isinstance(value, Text):
            return value.render(self)
        if isinstance(value, Rate):
            return self.percent(value.value)
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int):
            return self.number(value)
        if isinstance(value, date):
            return self.date(value)
        return clip(value)


def available_languages() -> list[str]:
    found = {ENGLISH}
    for catalogue in LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po"):
        found.add(catalogue.parent.parent.name)
    return sorted(found)


@cache
def language(code: str) -> Language:
    """The language `code` ("en", "ja", ...); an error names the ones there are."""
    if code == ENGLISH:
        return Language(ENGLISH, gettext.NullTranslations())
    path = LOCALES / code / "LC_MESSAGES" / f"{DOMAIN}.po"
    if code not in available_languages() or not path.is_file():
        known = ", ".join(available_languages())
        raise DmarcAnalyzerError(f"no translation for {code!r}; available: {known}")
    return Language(code, _compiled(path, code))


class _PlainEnglish(Language):
    """English as the command line shows it: ISO dates, plain numbers."""

    def __init__(self):
        super().__init__(ENGLISH, gettext.NullTranslations())

    def value(self, value: object) -> str:
        if isinstance(value, Rate):
            return f"{value.value:.1%}"
        if isinstance(value, date) or (
            isinstance(value, int) and not isinstance(value, bool)
        ):
            return str(value)
        return super().value(value)


_PLAIN = _PlainEnglish()


# The same fix is told for many sources.
@lru_cache(maxsize=65536)
def _plain_text(value: Text) -> str:
    return value.render(_PLAIN)


def _compiled(path: Path, code: str) -> gettext.GNUTranslations:
    """A .po file compiled to gettext's binary form in memory, so that the
    repository holds only text and needs no build step."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with path.open("rb") as source:
        catalogue = read_po(source, locale=code, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalogue, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)
