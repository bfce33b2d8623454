"""Safe HTML for the reports: one self-contained page, every text escaped.

Every value put into a page goes through `esc` (html.escape) unless it is `Markup` built
by these helpers, so model and dataset text (questions, explanations, teacher replies)
can never add markup or scripts. Images are embedded as base64 PNG data URIs and the
style sheet is inline: the page is one file that opens offline.
"""

from __future__ import annotations

import base64
import html

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em;
       padding: 0 1em; color: #222; line-height: 1.4; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em;
        display: block; overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; }
td.text, th.text { text-align: left; }
img { max-width: 100%; margin: 0.5em 0; }
.example { border: 1px solid #ddd; border-radius: 4px; padding: 0.5em 1em; margin: 1em 0; }
.question { font-weight: 600; }
ol.steps { font-family: ui-monospace, monospace; font-size: 0.9em; }
ol.steps li.wrong { background: #fdd; }
ol.steps li.dropped { color: #999; text-decoration: line-through; }
ol.steps li.unstable::after { content: "  \\2190 least stable step"; color: #b60; }
ol.steps li.wrong::after { content: "  \\2190 first wrong step"; color: #c00; }
ol.steps li.wrong.unstable::after { content: "  \\2190 first wrong, least stable step"; }
.muted { color: #777; }
.verdict { font-size: 1.15em; font-weight: 600; }
ul.bought { font-size: 1.05em; }
pre { background: #f7f7f7; padding: 0.5em; white-space: pre-wrap; font-size: 0.85em; }
"""


class Markup(str):
    """Text that is already HTML, made by the helpers below; never escaped again."""


def esc(value: object) -> Markup:
    """`value` as HTML text: Markup unchanged, anything else escaped."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def join(*parts: object) -> Markup:
    return Markup("".join(esc(p) for p in parts))


def tag(name: str, *children: object, cls: str | None = None, **attributes: object
        ) -> Markup:
    """<name class=cls attribute=value...>children</name>; children and values are
    escaped unless Markup."""
    pairs = ([("class", cls)] if cls else []) + list(attributes.items())
    attribute = "".join(f' {key}="{esc(value)}"' for key, value in pairs)
    return Markup(f"<{name}{attribute}>{join(*children)}</{name}>")


def table(header: list[str], rows: list[list[object]], text_columns: int = 0) -> Markup:
    """A table; the first `text_columns` columns are left-aligned text."""
    def cells(values: list[object], name: str) -> Markup:
        return join(*(tag(name, v, cls="text" if i < text_columns else None)
                      for i, v in enumerate(values)))
    return tag("table", tag("tr", cells(header, "th")),
               *(tag("tr", cells(row, "td")) for row in rows))


def image(png: bytes, alt: str) -> Markup:
    data = base64.b64encode(png).decode("ascii")
    return Markup(f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}">')


def link(href: str, text: object) -> Markup:
    return Markup(f'<a href="{esc(href)}">{esc(text)}</a>')


def page(title: str, *body: object) -> str:
    """A whole HTML document: inline style, no scripts, no outside resources."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n"
            f"{join(*body)}\n</body></html>\n")
