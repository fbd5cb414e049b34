"""A small document model written out as Markdown and as self-contained-folder HTML."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Document", "fmt"]


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table: ``nan`` as an en dash, floats to ``digits`` decimals."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if value != value else f"{value:.{digits}f}"
    return str(value)


@dataclass
class Document:
    """Headings, paragraphs, tables, figures and code, in order; figures are PNG files whose
    paths are written relative to the document's folder."""

    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.blocks.append(("h2", text))

    def para(self, text: str) -> None:
        self.blocks.append(("p", text))

    def bullets(self, items: Sequence[str]) -> None:
        self.blocks.append(("ul", list(items)))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.blocks.append(("table", (list(header), [[fmt(v) for v in r] for r in rows])))

    def figure(self, path: Path, caption: str) -> None:
        self.blocks.append(("img", (Path(path), caption)))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    def markdown(self, folder: Path) -> str:
        out = [f"# {self.title}", ""]
        for kind, value in self.blocks:
            if kind == "h2":
                out += [f"## {value}", ""]
            elif kind == "p":
                out += [value, ""]
            elif kind == "ul":
                out += [f"- {item}" for item in value] + [""]
            elif kind == "table":
                header, rows = value
                out.append("| " + " | ".join(header) + " |")
                out.append("|" + "|".join("---" for _ in header) + "|")
                out += ["| " + " | ".join(r) + " |" for r in rows]
                out.append("")
            elif kind == "img":
                path, caption = value
                out += [f"![{caption}]({_rel(path, folder)})", "", f"*{caption}*", ""]
            elif kind == "code":
                out += ["```", value, "```", ""]
        return "\n".join(out)

    def html(self, folder: Path) -> str:
        e = html.escape
        body = [f"<h1>{e(self.title)}</h1>"]
        for kind, value in self.blocks:
            if kind == "h2":
                body.append(f"<h2>{e(value)}</h2>")
            elif kind == "p":
                body.append(f"<p>{e(value)}</p>")
            elif kind == "ul":
                body.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in value) + "</ul>")
            elif kind == "table":
                header, rows = value
                head = "".join(f"<th>{e(h)}</th>" for h in header)
                cells = "".join(
                    "<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows
                )
                body.append(f"<table><tr>{head}</tr>{cells}</table>")
            elif kind == "img":
                path, caption = value
                body.append(
                    f'<figure><img src="{e(_rel(path, folder))}" alt="{e(caption)}">'
                    f"<figcaption>{e(caption)}</figcaption></figure>"
                )
            elif kind == "code":
                body.append(f"<pre>{e(value)}</pre>")
        style = (
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;"
            "padding:3px 8px;text-align:right}th{background:#eee}img{max-width:100%}"
            "figcaption{font-style:italic;color:#444}pre{background:#f4f4f4;padding:8px}"
        )
        return (
            f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{e(self.title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
        )

    def write(self, folder: Path, stem: str = "report") -> tuple[Path, Path]:
        """Write ``<stem>.md`` and ``<stem>.html`` into ``folder``; returns both paths."""
        md, page = folder / f"{stem}.md", folder / f"{stem}.html"
        md.write_text(self.markdown(folder))
        page.write_text(self.html(folder))
        return md, page


def _rel(path: Path, folder: Path) -> str:
    try:
        return Path(path).resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()
