"""Read the ``data-key`` numbers and the references of a rendered report."""

from __future__ import annotations

import json
from html.parser import HTMLParser


class ReportParser(HTMLParser):
    """Collects data-key elements (value + text), image sources and links."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, dict] = {}
        self.refs: list[str] = []
        self.figures: list[str] = []
        self.units: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name in ("src", "href"):
            if a.get(name):
                self.refs.append(a[name])
        if "data-figure" in a:
            self.figures.append(a["data-figure"])
        if "data-unit" in a:
            self.units.append(a["data-unit"])
        if "data-key" in a:
            raw = a.get("data-value")
            self.keys[a["data-key"]] = {
                "value": None if raw is None else json.loads(raw),
                "text": "",
            }
            self._open.append(a["data-key"])
        elif self._open:
            self._open.append("")

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for key in self._open:
            if key:
                self.keys[key]["text"] += data


def parse_report(html: str) -> ReportParser:
    parser = ReportParser()
    parser.feed(html)
    return parser
