"""Turn one document file (Markdown, text, PDF, HTML, DOCX) into Markdown-ish text.

Headings come out as ``#`` lines so the chunker can keep a heading path for every chunk.
Every reader raises :class:`UnreadableDocument` with a reason a person understands.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

MARKDOWN_SUFFIXES = {".md", ".markdown"}
SUFFIXES = MARKDOWN_SUFFIXES | {".txt", ".pdf", ".html", ".htm", ".docx"}
MAX_FILE_BYTES = 50 * 1024 * 1024


class UnreadableDocument(Exception):
    """A file that cannot be read as a document; the message says why."""


def read_document(path: Path) -> str:
    """Read a supported file and return its text, headings as ``#`` lines.

    Raises:
        UnreadableDocument: the file is missing, too big, binary, corrupt, or of an unknown type.
    """
    suffix = path.suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        raise UnreadableDocument(f"unsupported file type {suffix or '(none)'}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnreadableDocument(f"cannot open: {exc.strerror or exc}") from exc
    if size > MAX_FILE_BYTES:
        raise UnreadableDocument(f"file is {size // 1_048_576} MiB, the limit is 50 MiB")
    try:
        text = reader(path)
    except UnreadableDocument:
        raise
    except Exception as exc:  # a third-party parser failing on a broken file
        raise UnreadableDocument(f"not a readable {suffix[1:].upper()} file ({type(exc).__name__}: {exc})") from exc
    text = clean_text(text)
    if not text.strip():
        raise UnreadableDocument("contains no text")
    return text


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Normalise newlines and drop control characters (a document must not smuggle them into replies)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def _read_plain(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise UnreadableDocument("binary content, not text")
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-16" and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            break
        return text
    # Lots of undecodable bytes means binary; a few means a legacy encoding worth salvaging.
    text = data.decode("utf-8", errors="replace")
    if text.count("\ufffd") > max(8, len(text) // 100):
        raise UnreadableDocument("binary content or an unknown text encoding (expected UTF-8)")
    return text.replace("\ufffd", "")


def _read_pdf(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise UnreadableDocument("the PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
    except PdfReadError as exc:
        raise UnreadableDocument(f"corrupt PDF ({exc})") from exc
    return "\n\n".join(p.strip() for p in pages)


def _read_html(path: Path) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_read_plain(path), "html.parser")
    for tag in soup(["script", "style", "nav", "footer", "noscript", "template"]):
        tag.decompose()
    for level in range(1, 7):
        for tag in soup.find_all(f"h{level}"):
            tag.replace_with(f"\n\n{'#' * level} {tag.get_text(' ', strip=True)}\n\n")
    for tag in soup.find_all("li"):
        tag.insert_before("\n- ")
    for tag in soup.find_all(["p", "div", "br", "tr", "pre", "table"]):
        tag.insert_after("\n")
    text = soup.get_text()
    return re.sub(r"\n{3,}", "\n\n", text)


def _read_docx(path: Path) -> str:
    import docx

    if not zipfile.is_zipfile(path):
        raise UnreadableDocument("not a DOCX file (a DOCX is a zip archive)")
    document = docx.Document(str(path))
    lines: list[str] = []
    for para in document.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        style = (para.style.name or "") if para.style is not None else ""
        match = re.match(r"Heading (\d)", style)
        if style == "Title":
            lines.append(f"# {text}")
        elif match:
            lines.append(f"{'#' * min(int(match.group(1)) + 1, 6)} {text}")
        else:
            lines.append(text)
    for table in document.tables:
        for row in table.rows:
            lines.append("| " + " | ".join(cell.text.strip() for cell in row.cells) + " |")
    return "\n\n".join(lines)


_READERS: dict[str, Callable[[Path], str]] = {
    ".md": _read_plain,
    ".markdown": _read_plain,
    ".txt": _read_plain,
    ".pdf": _read_pdf,
    ".html": _read_html,
    ".htm": _read_html,
    ".docx": _read_docx,
}
