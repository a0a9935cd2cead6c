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
        raise UnreadableDocument(f"file is {_mib(size)} MiB, the limit is {_mib(MAX_FILE_BYTES)} MiB")
    try:
        text = reader(path)
    except UnreadableDocument:
        raise
    except Exception as exc:  # a third-party parser failing on a broken file
        kind = suffix[1:].upper()
        raise UnreadableDocument(f"not a readable {kind} file ({type(exc).__name__}: {exc})") from exc
    text = clean_text(text)
    if not text.strip():
        if suffix == ".pdf":
            raise UnreadableDocument("contains no extractable text (a scanned PDF needs OCR first)")
        raise UnreadableDocument("contains no text")
    return text


def _mib(size: int) -> str:
    return f"{size / 1_048_576:.1f}".removesuffix(".0")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Normalise newlines and drop control characters (a document must not smuggle them into replies)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def _read_plain(path: Path) -> str:
    data = path.read_bytes()
    # A byte-order mark says how to decode; UTF-16 text is full of NUL bytes, so look before the binary test.
    if data.startswith(b"\xef\xbb\xbf"):
        return _decode_strict(data, "utf-8-sig")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _decode_strict(data, "utf-16")
    if b"\x00" in data[:8192]:
        raise UnreadableDocument("binary content, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Lots of undecodable bytes means binary; a few means a legacy encoding worth salvaging.
    text = data.decode("utf-8", errors="replace")
    if text.count("\ufffd") > max(8, len(text) // 100):
        raise UnreadableDocument("binary content or an unknown text encoding (expected UTF-8)")
    return text.replace("\ufffd", "")


def _decode_strict(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        name = encoding.upper().removesuffix("-SIG")
        raise UnreadableDocument(f"starts with a {name} byte-order mark but is not {name} text") from exc


def _read_pdf(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        # Many PDFs are encrypted only to set permissions, with an empty password: those still open.
        if reader.is_encrypted and not _opens_without_password(reader):
            raise UnreadableDocument("the PDF is encrypted (remove the password and send it again)")
        pages = [page.extract_text() or "" for page in reader.pages]
    except PdfReadError as exc:
        raise UnreadableDocument(f"corrupt PDF ({exc})") from exc
    return "\n\n".join(p.strip() for p in pages)


def _opens_without_password(reader: object) -> bool:
    try:
        return bool(reader.decrypt(""))  # type: ignore[attr-defined]
    except Exception:  # an unsupported cipher, or a library needed for it missing
        return False


_HTML_BLOCKS = ["p", "div", "br", "ul", "ol", "dl", "dt", "dd", "blockquote", "section", "article"]


def _read_html(path: Path) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_read_plain(path), "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(["script", "style", "nav", "footer", "noscript", "template", "head", "title"]):
        tag.decompose()
    if title and not soup.find("h1"):
        soup.insert(0, f"# {title}\n\n")
    for tag in soup.find_all("pre"):
        # Code keeps its lines and stays one block for the chunker.
        code = tag.get_text().strip("\n")
        tag.replace_with(f"\n\n```\n{code}\n```\n\n")
    for level in range(1, 7):
        for tag in soup.find_all(f"h{level}"):
            tag.replace_with(f"\n\n{'#' * level} {tag.get_text(' ', strip=True)}\n\n")
    for table in soup.find_all("table"):
        table.replace_with(_html_table(table))
    for tag in soup.find_all("li"):
        tag.insert_before("\n- ")
    for tag in soup.find_all(_HTML_BLOCKS):
        tag.insert_after("\n")
    text = soup.get_text()
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text)


def _html_table(table: object) -> str:
    rows = []
    for tr in table.find_all("tr"):  # type: ignore[attr-defined]
        cells = [" ".join(cell.get_text(" ", strip=True).split()) for cell in tr.find_all(["td", "th"])]
        if cells:
            rows.append(cells)
    return "\n\n" + _markdown_table(rows) + "\n\n" if rows else "\n"


def _markdown_table(rows: list[list[str]]) -> str:
    """Rows of cells as a Markdown table (the first row is the header), one line per row."""
    width = max(len(row) for row in rows)
    rows = [row + [""] * (width - len(row)) for row in rows]
    lines = ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    lines.insert(1, "|" + " --- |" * width)
    return "\n".join(lines)


def _read_docx(path: Path) -> str:
    import docx
    from docx.table import Table

    if not zipfile.is_zipfile(path):
        raise UnreadableDocument("not a DOCX file (a DOCX is a zip archive)")
    document = docx.Document(str(path))
    # Heading 1 is the top level, unless the document has a Title above it.
    has_title = any(_style(p) == "Title" for p in document.paragraphs)
    blocks: list[str] = []
    for item in document.iter_inner_content():  # paragraphs and tables in reading order
        if isinstance(item, Table):
            rows = [[" ".join(cell.text.split()) for cell in row.cells] for row in item.rows]
            if any(any(row) for row in rows):
                blocks.append(_markdown_table(rows))
            continue
        text = item.text.strip()
        if not text:
            continue
        style = _style(item)
        match = re.match(r"heading (\d)", style, re.I)
        if style == "Title":
            blocks.append(f"# {text}")
        elif match:
            blocks.append(f"{'#' * min(int(match.group(1)) + has_title, 6)} {text}")
        elif style.lower().startswith("list"):
            blocks.append(f"- {text}")
        else:
            blocks.append(text)
    return "\n\n".join(blocks)


def _style(paragraph: object) -> str:
    style = getattr(paragraph, "style", None)
    return (style.name or "") if style is not None else ""


_READERS: dict[str, Callable[[Path], str]] = {
    ".md": _read_plain,
    ".markdown": _read_plain,
    ".txt": _read_plain,
    ".pdf": _read_pdf,
    ".html": _read_html,
    ".htm": _read_html,
    ".docx": _read_docx,
}
