"""Heading-aware chunking with stable, content-derived ids.

A lesson's Markdown is cut into sections at ``#`` to ``####`` headings (never inside a code fence),
each section keeping its heading path (``"Title > Section > Sub"``). A section is then packed into
chunks of whole blocks (paragraphs, lists, fenced code blocks, tables), so a code block or a table
that fits in a chunk is never cut. Only a block longer than a chunk is split, by LangChain's
recursive splitter, at lines, then sentence ends (Chinese and English punctuation), then words.

LangChain's ``MarkdownHeaderTextSplitter`` is not used for the first step: it strips every line
(code loses its indentation) and joins paragraphs into one, leaving the size step nothing but
line breaks to cut at, so code blocks and tables were cut in the middle.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

from knowledge.models import Chunk, Course, Lesson, SourceText

_MAX_PATH_LEVEL = 4  # headings below #### are text, not sections
_IMAGE = re.compile(r'!\[[^\]]*\]\((?:[^()\s]|\([^()]*\))*(?:\s+"[^"]*")?\)|!\[[^\]]*\]\[[^\]]*\]')
_LINK = re.compile(r'\[([^\]]*)\]\((?:[^()\s]|\([^()]*\))*(?:\s+"[^"]*")?\)')
_HTML_TAG = re.compile(r"</?(?:img|a|br|p|div|span|sup|sub|details|summary)\b[^>]*>", re.I)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
# Any indentation: most lesson code sits in list items, indented four spaces or more.
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_SENTENCE_SEPARATORS = ["。", "！", "？", "；", ". ", "! ", "? ", "; ", "，", ", ", " ", ""]


def tidy_markdown(text: str) -> str:
    """Drop image markup, link targets, HTML comments and inline HTML tags, outside code blocks.

    They are noise for both readers and retrievers; code is left exactly as written.
    """
    parts = []
    for is_code, block in _fenced_segments(text):
        if not is_code:
            block = _HTML_COMMENT.sub("", block)
            block = _IMAGE.sub("", block)
            block = _LINK.sub(r"\1", block)
            block = _HTML_TAG.sub("", block)
            block = re.sub(r"\n{3,}", "\n\n", block)
        parts.append(block)
    return "".join(parts).strip()


def _fenced_segments(text: str) -> Iterator[tuple[bool, str]]:
    """The text as alternating (is_code, text) runs; a fence runs from its opening to its closing line."""
    prose: list[str] = []
    code: list[str] = []
    fence = ""
    for line in text.splitlines(keepends=True):
        if fence:
            code.append(line)
            if _closes(line, fence):
                yield True, "".join(code)
                code, fence = [], ""
            continue
        match = _FENCE.match(line)
        if match and not (match.group(1)[0] == "`" and "`" in line[match.end() :]):
            if prose:
                yield False, "".join(prose)
                prose = []
            fence = match.group(1)
            code = [line]
        else:
            prose.append(line)
    if code:  # an unclosed fence runs to the end of the text
        yield True, "".join(code)
    if prose:
        yield False, "".join(prose)


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(fence) and set(stripped) == {fence[0]}


def split_sections(text: str) -> list[tuple[str, str]]:
    """Cut Markdown at ``#`` to ``####`` headings into ``(heading path, body)`` pairs, in order.

    Headings inside code fences are code, not headings. The body keeps its text exactly.
    """
    sections: list[tuple[str, str]] = []
    stack: dict[int, str] = {}
    body: list[str] = []

    def flush() -> None:
        if "".join(body).strip():
            sections.append((" > ".join(stack[level] for level in sorted(stack)), "".join(body)))
        body.clear()

    def open_heading(level: int, title: str) -> None:
        flush()
        for deeper in [lv for lv in stack if lv >= level]:
            del stack[deeper]
        if title:
            stack[level] = title

    for is_code, segment in _fenced_segments(text):
        if is_code:
            body.append(segment)
            continue
        for line in segment.splitlines(keepends=True):
            atx = _ATX.match(line)
            if atx and len(atx.group(1)) <= _MAX_PATH_LEVEL:
                open_heading(len(atx.group(1)), (atx.group(2) or "").strip())
                continue
            setext = _SETEXT.match(line)
            if setext and body and _is_paragraph_line(body[-1]):
                title = body.pop().strip()
                open_heading(1 if setext.group(1)[0] == "=" else 2, title)
                continue
            body.append(line)
    flush()
    return sections


def _is_paragraph_line(line: str) -> bool:
    stripped = line.strip()
    if not stripped or "|" in stripped:
        return False
    return not re.match(r"([-*+>#]|\d+[.)])(\s|$)|```|~~~", stripped)


def split_blocks(body: str) -> list[str]:
    """Cut a section body into blocks: fenced code blocks, tables, and runs of lines between blank lines."""
    blocks: list[str] = []
    for is_code, segment in _fenced_segments(body):
        if is_code:
            blocks.append(segment.strip("\n"))
            continue
        run: list[str] = []
        for line in segment.split("\n"):
            if not line.strip() or (run and _is_table_line(line) != _is_table_line(run[-1])):
                if run:
                    blocks.append("\n".join(run))
                run = [line] if line.strip() else []
            else:
                run.append(line)
        if run:
            blocks.append("\n".join(run))
    return [b for b in (block.strip("\n") for block in blocks) if b.strip()]


def _is_table_line(line: str) -> bool:
    return line.lstrip().startswith("|")


class Chunker:
    """Split lessons into bounded, heading-aware chunks.

    Example:
        >>> chunks = Chunker(chunk_size=800).chunk_course(course)
    """

    def __init__(self, chunk_size: int = 800, chunk_overlap: int = 100) -> None:
        if chunk_size < 100 or not 0 <= chunk_overlap < chunk_size:
            raise ValueError("chunk_size must be >= 100 and chunk_overlap in [0, chunk_size)")
        self.chunk_size = chunk_size
        separators = RecursiveCharacterTextSplitter.get_separators_for_language(Language.MARKDOWN)
        self._sizer = RecursiveCharacterTextSplitter(
            separators=separators[:-2] + ["\n"] + _SENTENCE_SEPARATORS,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            keep_separator="end",
        )

    def chunk_course(self, course: Course) -> list[Chunk]:
        """All chunks of a course, in lesson order."""
        return [chunk for lesson in course.lessons for chunk in self.chunk_lesson(course, lesson)]

    def chunk_lesson(self, course: Course, lesson: Lesson) -> list[Chunk]:
        """The chunks of one lesson, in reading order."""
        chunks: list[Chunk] = []
        for source in lesson.sources:
            chunks.extend(self._chunk_source(course, lesson, source, start=len(chunks)))
        return chunks

    def _chunk_source(self, course: Course, lesson: Lesson, source: SourceText, start: int) -> list[Chunk]:
        chunks = []
        seen: set[str] = set()
        for heading, body in split_sections(tidy_markdown(source.text)):
            for piece in self.pack(body):
                piece = piece.strip()
                if len(piece) < 3:
                    continue
                chunk_id = stable_id(course.course_id, source.path, heading, piece)
                if chunk_id in seen:  # the same text twice under one heading: keep it once
                    continue
                seen.add(chunk_id)
                chunks.append(
                    Chunk(
                        chunk_id=chunk_id,
                        text=piece,
                        course_id=course.course_id,
                        lesson_id=lesson.lesson_id,
                        lesson_title=lesson.title,
                        heading=heading,
                        source_path=source.path,
                        language=course.language,
                        track=course.track,
                        premium=course.premium,
                        position=start + len(chunks),
                        translation_of=course.translation_of,
                    )
                )
        return chunks

    def pack(self, body: str) -> list[str]:
        """Pack a section's blocks into pieces of at most ``chunk_size``; only longer blocks are split."""
        pieces: list[str] = []
        current: list[str] = []
        size = 0
        for block in split_blocks(body):
            if current and size + 2 + len(block) > self.chunk_size:
                pieces.append("\n\n".join(current))
                current, size = [], 0
            if len(block) > self.chunk_size:
                pieces.extend(self._sizer.split_text(block))
                continue
            size += (2 if current else 0) + len(block)
            current.append(block)
        if current:
            pieces.append("\n\n".join(current))
        return pieces


def stable_id(course_id: str, source_path: str, heading: str, text: str) -> str:
    """A chunk id derived from its content, so writing the same chunk twice is a no-op."""
    digest = hashlib.sha256("\x1f".join((course_id, source_path, heading, text)).encode("utf-8"))
    return digest.hexdigest()[:24]


def index_text(chunk: Chunk) -> str:
    """What retrievers see: the lesson title and heading path give a chunk its context."""
    context = chunk.location
    return f"{context}\n{chunk.text}" if context else chunk.text
