"""Accessibility fixes made at build time (WCAG 2.1 AA; checked by tests/test_accessibility.py).

Regions that scroll must be reachable with the keyboard (axe-core's
``scrollable-region-focusable``), so code blocks and content tables get ``tabindex="0"``
in the HTML the build writes, not from a script:

* Python-Markdown / pymdownx.highlight code blocks: the ``<code>`` directly in a
  ``<pre>`` (Material makes that element the scroll container). Material's own script
  re-evaluates this attribute after load: it keeps it where the block overflows on a
  device with hover and removes it elsewhere.
* mkdocs-jupyter's code cells: the ``<div class="highlight-ipynb">`` that scrolls.
* fenced blocks in a notebook's Markdown cells (nbconvert writes ``<div class="highlight">
  <pre>`` with no ``<code>``): the ``<pre>`` itself scrolls.
* Tables without attributes (Markdown tables, mkdocstrings' parameter tables: the ones
  Material styles and wraps): wrapped in ``<div class="course-scroll" tabindex="0">``,
  which ``docs/stylesheets/extra.css`` makes the scroll container (Material's script
  adds its own wrapper inside it at load time; the stylesheet keeps that one from
  scrolling). Whether a table overflows depends on the reader's screen, so each such
  table is a tab stop.

The visible focus style of these elements is in ``docs/stylesheets/extra.css``.
"""

from __future__ import annotations

import re

from mkdocs.plugins import event_priority

# <pre ...><span></span><code ...> as pymdownx.highlight writes it (the empty span is
# Pygments' line-number anchor holder; some renderers omit it).
_PRE_CODE = re.compile(r"(<pre\b[^>]*>\s*(?:<span></span>)?)<code\b(?![^>]*\btabindex=)")
_IPYNB_CODE = re.compile(r'<div class="(highlight-ipynb\b[^"]*)"(?![^>]*\btabindex=)')
_BARE_PRE = re.compile(r'(<div class="highlight">\s*)<pre>(?!\s*(?:<span></span>)?\s*<code\b)')
_TABLE_TAG = re.compile(r"<table\b[^>]*>|</table\s*>", re.IGNORECASE)
_SCROLL_OPEN = '<div class="course-scroll" tabindex="0">'


def _focusable_tables(html: str) -> str:
    """Wrap each outermost ``<table>`` that has no attributes in a focusable scroll container."""
    out, pos, depth, wrapped = [], 0, 0, False
    for tag in _TABLE_TAG.finditer(html):
        opening = not tag.group().startswith("</")
        if opening:
            if depth == 0:
                wrapped = tag.group().lower() == "<table>" and not html.endswith(_SCROLL_OPEN, 0, tag.start())
                if wrapped:
                    out.append(html[pos:tag.start()])
                    out.append(_SCROLL_OPEN)
                    pos = tag.start()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0 and wrapped:
                out.append(html[pos:tag.end()])
                out.append("</div>")
                pos = tag.end()
                wrapped = False
    out.append(html[pos:])
    return "".join(out)


def focusable_scroll_regions(html: str) -> str:
    """The page's HTML with its code blocks and tables reachable by keyboard."""
    html = _PRE_CODE.sub(r'\1<code tabindex="0"', html)
    html = _IPYNB_CODE.sub(r'<div class="\1" tabindex="0"', html)
    html = _BARE_PRE.sub(r'\1<pre tabindex="0">', html)
    return _focusable_tables(html)


@event_priority(-100)  # after every plugin has produced the page's HTML (mkdocs-jupyter included)
def on_page_content(html, page, config, files):
    return focusable_scroll_regions(html)
