"""Heading-aware chunking with stable, content-derived ids.

LangChain's Markdown header splitter keeps the heading path of every section (and ignores ``#``
inside code fences); its Markdown-aware recursive splitter then bounds the size, preferring to cut
at headings, fences, blank lines and sentence ends over cutting inside a code block or a table.
"""

from __future__ import annotations

import hashlib
import re

from langchain_text_splitters import Language, MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from knowledge.models import Chunk, Course, Lesson, SourceText

_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4")]
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_HTML_TAG = re.compile(r"</?(?:img|a|br|p|div|span|sup|sub|details|summary)\b[^>]*>", re.I)
_SENTENCE_SEPARATORS = ["。", "！", "？", "；", ". ", "! ", "? ", "; ", "，", ", ", " ", ""]


def tidy_markdown(text: str) -> str:
    """Drop image markup, link targets and inline HTML tags: noise for both readers and retrievers."""
    text = _IMAGE.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _HTML_TAG.sub("", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


class Chunker:
    """Split lessons into bounded, heading-aware chunks.

    Example:
        >>> chunks = Chunker(chunk_size=800).chunk_course(course)
    """

    def __init__(self, chunk_size: int = 800, chunk_overlap: int = 100) -> None:
        if chunk_size < 100 or not 0 <= chunk_overlap < chunk_size:
            raise ValueError("chunk_size must be >= 100 and chunk_overlap in [0, chunk_size)")
        self.chunk_size = chunk_size
        self._headers = MarkdownHeaderTextSplitter(_HEADERS, strip_headers=True)
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
        for section in self._headers.split_text(tidy_markdown(source.text)):
            heading = " > ".join(section.metadata[key] for _, key in _HEADERS if key in section.metadata)
            for piece in self._sizer.split_text(section.page_content):
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
                    )
                )
        return chunks


def stable_id(course_id: str, source_path: str, heading: str, text: str) -> str:
    """A chunk id derived from its content, so writing the same chunk twice is a no-op."""
    digest = hashlib.sha256("\x1f".join((course_id, source_path, heading, text)).encode("utf-8"))
    return digest.hexdigest()[:24]


def index_text(chunk: Chunk) -> str:
    """What retrievers see: the lesson title and heading path give a chunk its context."""
    context = " > ".join(part for part in (chunk.lesson_title, chunk.heading) if part)
    return f"{context}\n{chunk.text}" if context else chunk.text
