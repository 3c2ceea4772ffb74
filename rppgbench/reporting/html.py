"""Minimal, self-contained HTML pages. Every string that is not our own markup goes through :func:`esc`.

Pages carry a Content-Security-Policy that allows no inline script, no remote resources, and scripts
only from the page's own directory (``script-src 'self'``), so text that slipped through could still not run.
"""
from __future__ import annotations

import html as _html
from collections.abc import Sequence
from typing import Any

__all__ = ["esc", "page", "CSP", "STYLE", "link", "img", "definition_list"]

#: no inline script, no remote anything; images, styles and scripts only from the site itself
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "base-uri 'none'; form-action 'none'")

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:80em;
     padding:0 1em;color:#1d1d1d;line-height:1.4}
table{border-collapse:collapse;margin:1em 0;font-size:0.92em}
caption{caption-side:top;text-align:left;font-size:0.9em;color:#444;padding-bottom:0.3em}
th,td{border:1px solid #ccc;padding:0.25em 0.45em;text-align:right}
th:first-child,td:first-child{text-align:left}
table.sortable th{cursor:pointer;background:#f3f3f3}
th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}
img{max-width:100%;border:1px solid #eee;margin:0.4em 0}
.flag{color:#a40000;font-weight:bold}
.note{color:#555;font-size:0.9em}
figure{display:inline-block;margin:0.5em 1em 0.5em 0;vertical-align:top}
figcaption{font-size:0.85em;color:#444}
.scroll{overflow-x:auto;max-width:100%}
td{white-space:nowrap}
tr.null td{background:#f6f6f6;font-style:italic}
.tag{font-size:0.8em;color:#555;border:1px solid #bbb;border-radius:3px;padding:0 0.25em;font-style:normal}
.verdict{border:1px solid #9ab;background:#f5f9fc;padding:0.4em 1em;margin:0.6em 0}
.verdict h3{margin:0.3em 0}
.verdict ul{margin:0.3em 0;padding-left:1.2em}
.meta{color:#444;font-size:0.9em}
nav ul{display:inline;padding-left:0}
nav ul::before{content:": "}
nav ul li{display:inline}
nav ul li+li::before{content:" · "}
details{margin:0.4em 0}
details>summary{cursor:pointer;font-weight:bold}
"""


def esc(value: Any) -> str:
    """HTML-escape any value, quotes included (safe in text and in quoted attributes)."""
    return _html.escape(str(value), quote=True)


def link(href: str, text: Any) -> str:
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def img(src: str, alt: Any, caption: Any | None = None) -> str:
    tag = f'<img src="{esc(src)}" alt="{esc(alt)}" loading="lazy">'
    if caption is None:
        return tag
    return f"<figure>{tag}<figcaption>{esc(caption)}</figcaption></figure>"


def definition_list(items: Sequence[tuple[Any, Any]]) -> str:
    return "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items) + "</dl>"


def page(title: str, body: str, *, scripts: Sequence[str] = (), stylesheet: str | None = None) -> str:
    """A complete HTML5 document. ``body`` must already be safe markup; ``title`` is escaped here.

    ``scripts`` are relative URLs of external script files (never inline code). Without a ``stylesheet``
    the style is embedded (styles are allowed inline by the CSP; scripts are not).
    """
    style = (f'<link rel="stylesheet" href="{esc(stylesheet)}">' if stylesheet
             else f"<style>{STYLE}</style>")
    tags = "".join(f'<script src="{esc(s)}" defer></script>' for s in scripts)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n{style}\n{tags}\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
