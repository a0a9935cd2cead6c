"""read_document: each format becomes Markdown-ish text; each bad file a clear UnreadableDocument."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import docx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader, PdfWriter

from knowledge import readers
from knowledge.readers import UnreadableDocument, read_document


def make_pdf(lines: list[str]) -> bytes:
    """A minimal valid one-page PDF whose page shows ``lines`` in Helvetica (ASCII only)."""
    shown = " ".join(f"({line}) Tj 0 -16 Td" for line in lines)
    content = f"BT /F1 12 Tf 72 720 Td {shown} ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def blank_pdf(password: str | None = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    if password is not None:
        writer.encrypt(password, algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def reason(path: Path) -> str:
    with pytest.raises(UnreadableDocument) as info:
        read_document(path)
    return str(info.value)


# -- plain text and Markdown -------------------------------------------------------------------


def test_markdown_is_returned_as_written(tmp_path: Path) -> None:
    path = tmp_path / "lesson.md"
    path.write_text("# Title\n\nSome *text*.\n\n```python\n    indented = True\n```\n", encoding="utf-8")
    assert read_document(path) == path.read_text(encoding="utf-8")


def test_newlines_are_normalised_and_control_characters_dropped(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"line one\r\nline two\rline\x07 three\tkept\x1b[31m")
    assert read_document(path) == "line one\nline two\nline three\tkept[31m"


def test_utf8_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bom.md"
    path.write_bytes("\ufeff# Title\n".encode())
    assert read_document(path) == "# Title\n"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_text_with_a_byte_order_mark_is_read(tmp_path: Path, encoding: str) -> None:
    # UTF-16 text is full of NUL bytes: it must not be mistaken for a binary file.
    path = tmp_path / "notes.txt"
    bom = {"utf-16": b"", "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}[encoding]
    path.write_bytes(bom + "Hello 你好\n".encode(encoding))
    assert read_document(path) == "Hello 你好\n"


def test_chinese_utf8_text_is_read(tmp_path: Path) -> None:
    path = tmp_path / "课程.md"
    path.write_text("# 识别钓鱼邮件\n\n钓鱼攻击是指攻击者冒充可信的人或机构。\n", encoding="utf-8")
    assert "钓鱼攻击" in read_document(path)


def test_a_few_undecodable_bytes_are_salvaged(tmp_path: Path) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes(b"Caf\xe9 menu: coffee, tea and a long enough line of ordinary ASCII text.")
    assert read_document(path).startswith("Caf menu")


def test_binary_file_named_md_is_refused_as_binary(tmp_path: Path) -> None:
    path = tmp_path / "image.md"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    assert "binary" in reason(path)


def test_binary_without_nul_bytes_is_refused_as_binary(tmp_path: Path) -> None:
    path = tmp_path / "blob.txt"
    path.write_bytes(bytes(range(0x80, 0x100)) * 16)
    assert "binary" in reason(path)


@pytest.mark.parametrize("content", [b"", b"   \n\n\t  \n"])
def test_empty_file_contains_no_text(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.md"
    path.write_bytes(content)
    assert reason(path) == "contains no text"


def test_missing_file_cannot_be_opened(tmp_path: Path) -> None:
    assert "cannot open" in reason(tmp_path / "missing.md")


@pytest.mark.parametrize("name", ["slides.pptx", "archive.zip", "Makefile"])
def test_unsupported_type_is_named(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("text", encoding="utf-8")
    suffix = Path(name).suffix or "(none)"
    assert reason(path) == f"unsupported file type {suffix}"


def test_suffix_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "LESSON.MD"
    path.write_text("# Upper\n", encoding="utf-8")
    assert read_document(path) == "# Upper\n"


def test_oversized_file_is_refused_with_its_size_and_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "MAX_FILE_BYTES", 1_048_576)
    path = tmp_path / "huge.txt"
    path.write_bytes(b"a" * (3 * 1_048_576))
    assert reason(path) == "file is 3 MiB, the limit is 1 MiB"


# -- PDF ---------------------------------------------------------------------------------------


def test_pdf_text_is_extracted(tmp_path: Path) -> None:
    path = tmp_path / "handout.pdf"
    path.write_bytes(make_pdf(["Firewalls filter traffic", "Second line of the page"]))
    text = read_document(path)
    assert "Firewalls filter traffic" in text
    assert "Second line of the page" in text


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog",  # truncated
        b"this is not a pdf at all",
        make_pdf(["cut short"])[:120],
    ],
)
def test_corrupt_pdf_is_reported_as_a_pdf_problem(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(content)
    assert "PDF" in reason(path)


def test_pdf_without_text_suggests_ocr(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(blank_pdf())
    assert "no extractable text" in reason(path)


def test_password_protected_pdf_is_reported_as_encrypted(tmp_path: Path) -> None:
    path = tmp_path / "secret.pdf"
    path.write_bytes(blank_pdf(password="hunter2"))
    assert "encrypted" in reason(path)


def test_pdf_encrypted_only_for_permissions_is_read(tmp_path: Path) -> None:
    # An empty user password (common: "no printing" PDFs) opens without asking anyone.
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["Permissions only"]))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    path = tmp_path / "locked.pdf"
    path.write_bytes(buffer.getvalue())
    assert read_document(path) == "Permissions only"


# -- HTML --------------------------------------------------------------------------------------

HTML = """<!doctype html>
<html><head><title>Page title</title><style>p { color: red }</style>
<script>var secret = "drop me";</script></head>
<body>
<nav>Home | About</nav>
<h1>Network <em>basics</em></h1>
<p>A network connects <b>devices</b>.</p>
<h2>Routers</h2>
<p>Routers forward packets.</p>
<h3>Home routers</h3>
<ul><li>Wi-Fi</li><li>NAT</li></ul>
<table><tr><th>Port</th><th>Use</th></tr><tr><td>22</td><td>SSH</td></tr></table>
<pre>def ping(host):
    return True</pre>
<script>alert("also dropped")</script>
<footer>Copyright</footer>
</body></html>
"""


def test_html_headings_become_hash_lines(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(HTML, encoding="utf-8")
    lines = read_document(path).splitlines()
    assert "# Network basics" in lines
    assert "## Routers" in lines
    assert "### Home routers" in lines


def test_html_scripts_styles_and_page_chrome_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "page.htm"
    path.write_text(HTML, encoding="utf-8")
    text = read_document(path)
    for gone in ("drop me", "alert", "color: red", "Home | About", "Copyright"):
        assert gone not in text


def test_html_lists_tables_and_code_keep_their_shape(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(HTML, encoding="utf-8")
    text = read_document(path)
    assert "- Wi-Fi\n- NAT" in text
    assert "| Port | Use |\n| --- | --- |\n| 22 | SSH |" in text
    assert "```\ndef ping(host):\n    return True\n```" in text
    assert "A network connects devices." in text


def test_html_title_is_used_when_there_is_no_h1(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text("<html><head><title>Only a title</title></head><body><p>Body.</p></body></html>")
    assert read_document(path).startswith("# Only a title")


def test_html_with_only_a_script_contains_no_text(tmp_path: Path) -> None:
    path = tmp_path / "empty.html"
    path.write_text("<html><body><script>var x = 1;</script></body></html>", encoding="utf-8")
    assert reason(path) == "contains no text"


# -- DOCX --------------------------------------------------------------------------------------


def test_docx_heading_styles_become_hash_lines_in_reading_order(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("Data handling", level=1)
    document.add_paragraph("Classify data before you share it.")
    document.add_heading("Labels", level=2)
    document.add_paragraph("Public, internal, confidential.", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    for (r, c), value in {(0, 0): "Label", (0, 1): "Who", (1, 0): "Public", (1, 1): "Anyone"}.items():
        table.cell(r, c).text = value
    document.add_heading("Deep", level=3)
    document.add_paragraph("After the table.")
    path = tmp_path / "handbook.docx"
    document.save(str(path))

    text = read_document(path)
    assert text.split("\n\n") == [
        "# Data handling",
        "Classify data before you share it.",
        "## Labels",
        "- Public, internal, confidential.",
        "| Label | Who |\n| --- | --- |\n| Public | Anyone |",
        "### Deep",
        "After the table.",
    ]


def test_docx_title_style_sits_above_heading_1(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("Handbook", level=0)  # the Title style
    document.add_heading("Chapter", level=1)
    document.add_paragraph("Text.")
    path = tmp_path / "titled.docx"
    document.save(str(path))
    assert read_document(path).split("\n\n") == ["# Handbook", "## Chapter", "Text."]


def test_docx_chinese_text_is_read(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("数据处理", level=1)
    document.add_paragraph("分享数据之前先确认它的分类。")
    path = tmp_path / "中文.docx"
    document.save(str(path))
    assert read_document(path) == "# 数据处理\n\n分享数据之前先确认它的分类。"


def test_file_named_docx_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fake.docx"
    path.write_text("plain text pretending", encoding="utf-8")
    assert "not a DOCX file" in reason(path)


def test_zip_that_is_not_a_docx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert "DOCX" in reason(path)


def test_empty_docx_contains_no_text(tmp_path: Path) -> None:
    path = tmp_path / "empty.docx"
    docx.Document().save(str(path))
    assert reason(path) == "contains no text"


# -- fuzz --------------------------------------------------------------------------------------

FUZZ_SUFFIXES = [".md", ".txt", ".html", ".pdf", ".docx"]
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _read_or_refuse(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            text = read_document(path)
        except UnreadableDocument as exc:
            assert str(exc), "a refusal must say why"
        else:
            assert isinstance(text, str) and text.strip()


@pytest.mark.parametrize("suffix", FUZZ_SUFFIXES)
@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes_are_read_or_refused_never_crash(suffix: str, data: bytes) -> None:
    _read_or_refuse(data, suffix)


@pytest.mark.parametrize("suffix", FUZZ_SUFFIXES)
@FUZZ
@given(text=st.text(max_size=2000))
def test_random_text_is_read_or_refused_never_crash(suffix: str, text: str) -> None:
    _read_or_refuse(text.encode("utf-8", errors="surrogatepass"), suffix)


@pytest.mark.parametrize("suffix", [".pdf", ".docx"])
@FUZZ
@given(data=st.data())
def test_damaged_real_documents_are_read_or_refused_never_crash(suffix: str, data: st.DataObject) -> None:
    # Random bytes rarely get past a parser's first check; flipping bytes in a real file does.
    if suffix == ".pdf":
        original = make_pdf(["Some words on a page", "and a second line"])
    else:
        original = _small_docx()
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8), label="flips")):
        at = data.draw(st.integers(0, len(damaged) - 1), label="offset")
        damaged[at] = data.draw(st.integers(0, 255), label="byte")
    cut = data.draw(st.integers(len(damaged) // 2, len(damaged)), label="length")
    _read_or_refuse(bytes(damaged[:cut]), suffix)


_DOCX_CACHE: list[bytes] = []


def _small_docx() -> bytes:
    if not _DOCX_CACHE:
        document = docx.Document()
        document.add_heading("Heading", level=1)
        document.add_paragraph("A paragraph of text.")
        buffer = io.BytesIO()
        document.save(buffer)
        _DOCX_CACHE.append(buffer.getvalue())
    return _DOCX_CACHE[0]
