"""A lesson read in chat: its stored text cut into sections, and the reply that shows one page of it.

The lesson's text is what ingestion stored: its chunks, in reading order, each with its heading path.
The lesson's own headings give the sections (the first level below the lesson title); a section too
long for one message is cut between blocks (paragraphs, lists, whole code blocks), so a page fits one
Slack section block (3,000 characters) and one Telegram message (4,096) with its header and sources.
A code block longer than a page is cut between lines, each part fenced again.

Example:
    >>> pages = lesson_pages(chunks, "Recognising phishing")
    >>> reply = page_reply(view, 0)  # the first page, with objectives and a "Next section" button
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin

from bot.chat.callbacks import lesson_data, page_data
from bot.chat.topics import LessonTopicsRecord, lesson_topics_line
from bot.messages import Button, Reply
from bot.store.rows import CourseRow
from knowledge.answer import Citation
from knowledge.chunking import split_blocks, split_sections
from knowledge.loaders import outside_reason
from knowledge.models import Chunk
from recommender.records import LessonRow

PAGE_CHARS = 2400
"""A page's text at most: Slack's section block holds 3,000 characters; the rest is for the header,
the lesson's objectives on its first page, the images and the footer."""
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_MIN_OVERLAP = 20  # shorter repeats between pieces of one block are coincidence, not splitter overlap
_WEB_ADDRESS = re.compile(r"https?://[^\s<>\"]+")
_IMAGE = re.compile(r'!\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+"([^"]*)")?\s*\)')
_IMG_TAG = re.compile(r"<img\b[^>]*>", re.I)
_ATTRIBUTE = re.compile(r'\b(src|alt|title)\s*=\s*["\']([^"\']*)["\']', re.I)
SHORT_PAGE = 400
"""A section shorter than this shares its page with the next section of the same file."""
MAX_IMAGES = 6
"""Images listed under a page at most."""
Image = tuple[str, str]
"""An image of a lesson section: ``(caption, web address or "")``."""


@dataclass(frozen=True)
class LessonPage:
    """One page of a lesson: a section (or part of a long one) as Markdown, and where it came from."""

    section: str
    """The section's heading ("" for the text before the lesson's first section heading)."""
    text: str
    part: int
    parts: int
    chunk: Chunk
    images: tuple[Image, ...] = ()
    """The section's images (on its first page): chat shows a caption and a link, not the picture."""


@dataclass(frozen=True)
class LessonView:
    """A lesson as shown in chat: where it sits in its course, objectives, minutes and its pages."""

    course_id: str
    course_title: str
    lesson: LessonRow
    number: int
    total: int
    pages: list[LessonPage] = field(default_factory=list)
    url: str = ""
    """The course's public address, when its ``course.toml`` names one."""


def course_url(course: CourseRow) -> str:
    """The public address of a course: ``url`` in its ``course.toml``, if it is a web address, else "".

    Read from the course folder the catalogue row names (``source``) when the lesson is opened, so a
    link added to ``course.toml`` shows without re-ingesting; a moved or removed folder means no link.
    """
    try:
        spec = tomllib.loads((Path(course.source) / "course.toml").read_text("utf-8"))
    except (OSError, ValueError):
        return ""
    url = spec.get("url")
    return url.strip() if isinstance(url, str) and _WEB_ADDRESS.fullmatch(url.strip()) else ""


def section_images(course: CourseRow, chunks: Sequence[Chunk], lesson_title: str) -> dict[str, list[Image]]:
    """The images of a lesson's Markdown files by section (:func:`lesson_pages`' keys), read from its files.

    Ingestion drops image markup from the stored text (noise for search), so the captions and
    addresses come from the files themselves: a relative image gets a link when the course has a
    public ``url`` (resolved against the lesson file's folder there), an absolute one keeps its own.
    Only Markdown files inside the course folder are read; anything else has no images here.
    """
    root = Path(course.source)
    base = course_url(course)
    found: dict[str, list[Image]] = {}
    for source in dict.fromkeys(c.source_path for c in chunks):
        path = root / source
        if (
            path.suffix.lower() not in (".md", ".markdown")
            or not path.is_file()
            or outside_reason(root, path)
        ):
            continue
        try:
            text = path.read_text("utf-8", errors="replace")
        except OSError:
            continue
        for heading, body in split_sections(text):
            name = _section_of(heading, lesson_title)[0]
            for caption, address in _images(body):
                if address and not _WEB_ADDRESS.match(address):
                    folder = str(PurePosixPath(source).parent)
                    prefix = f"{base.rstrip('/')}/{'' if folder == '.' else folder + '/'}"
                    address = urljoin(prefix, address) if base else ""
                found.setdefault(f"{source}\x1f{name}", []).append((caption, address))
    return found


def _images(body: str) -> list[Image]:
    images = [(alt or title or "", src) for alt, src, title in _IMAGE.findall(body)]
    for tag in _IMG_TAG.findall(body):
        attributes = {k.lower(): v for k, v in _ATTRIBUTE.findall(tag)}
        images.append((attributes.get("alt") or attributes.get("title") or "", attributes.get("src", "")))
    return [
        ((caption.strip() or PurePosixPath(src).stem.replace("-", " ").replace("_", " ")), src.strip())
        for caption, src in images
    ]


def lesson_pages(
    chunks: Sequence[Chunk],
    lesson_title: str,
    limit: int = PAGE_CHARS,
    images: Mapping[str, list[Image]] | None = None,
) -> list[LessonPage]:
    """The lesson's stored chunks (reading order) as pages: one per section, long sections cut."""
    sections: list[tuple[str, list[Chunk]]] = []
    for chunk in chunks:
        name, _sub = _section_of(chunk.heading, lesson_title)
        key = f"{chunk.source_path}\x1f{name}"
        if not sections or sections[-1][0] != key:
            sections.append((key, []))
        sections[-1][1].append(chunk)
    pages: list[LessonPage] = []
    for key, members in sections:
        name = key.partition("\x1f")[2]
        texts = _pack(split_blocks(_section_text(members, lesson_title)), limit)
        shown = tuple((images or {}).get(key, []))
        pages += [
            LessonPage(name, text, n, len(texts), members[0], shown if n == 1 else ())
            for n, text in enumerate(texts, 1)
        ]
    return _merge_short(pages, limit)


def _merge_short(pages: Sequence[LessonPage], limit: int) -> list[LessonPage]:
    """A short section ("Pre-lecture quiz" and a link) shares a page with the next one of its file.

    Without this a course repository's lesson takes dozens of taps through near-empty pages.
    """
    merged: list[LessonPage] = []
    for page in pages:
        before = merged[-1] if merged else None
        if (
            before is not None
            and before.parts == 1
            and page.parts == 1
            and len(before.text) < SHORT_PAGE
            and before.chunk.source_path == page.chunk.source_path
        ):
            text = f"{before.text}\n\n## {page.section}\n\n{page.text}" if page.section else page.text
            if len(text) <= limit:
                merged[-1] = LessonPage(before.section, text, 1, 1, before.chunk, before.images + page.images)
                continue
        merged.append(page)
    return merged


def _section_of(heading: str, lesson_title: str) -> tuple[str, list[str]]:
    """``(section, subheadings)`` of a heading path, without the lesson title it may start with."""
    parts = [p for p in heading.split(" > ") if p] if heading else []
    if parts and parts[0].strip().lower() == lesson_title.strip().lower():
        parts = parts[1:]
    return (parts[0], parts[1:]) if parts else ("", [])


def _section_text(chunks: Sequence[Chunk], lesson_title: str) -> str:
    """A section's chunks joined back into its Markdown: subheadings restored, splitter overlap removed."""
    out: list[str] = []
    previous, sub_before = "", None
    for chunk in chunks:
        _name, sub = _section_of(chunk.heading, lesson_title)
        text = chunk.text.strip()
        if sub != sub_before:
            if sub:
                out.append(f"{'#' * min(len(sub) + 2, 6)} {sub[-1]}")
            sub_before, previous = sub, ""
        overlap = _overlap(previous, text)
        if overlap:  # a piece of one long block: the splitter repeated the previous piece's end,
            out[-1] += text[overlap:]  # so what follows the repeat continues it exactly
        else:
            out.append(text)
        previous = text
    return "\n\n".join(out)


def _overlap(before: str, after: str) -> int:
    """The length of the longest end of ``before`` that ``after`` starts with (0 below a few words)."""
    for size in range(min(len(before), len(after), 400), _MIN_OVERLAP - 1, -1):
        if before.endswith(after[:size]):
            return size
    return 0


def _pack(blocks: Sequence[str], limit: int) -> list[str]:
    """Blocks into pages of at most ``limit`` characters; a longer block is cut first."""
    pages: list[str] = []
    current = ""
    for block in (piece for b in blocks for piece in _cut(b, limit)):
        candidate = f"{current}\n\n{block}" if current else block
        if len(candidate) <= limit:
            current = candidate
        else:
            pages.append(current)
            current = block
    if current:
        pages.append(current)
    return pages or [""]


def _cut(block: str, limit: int) -> list[str]:
    """A block too long for a page, cut: code between lines (each part fenced), prose at sentences."""
    if len(block) <= limit:
        return [block]
    lines = block.split("\n")
    fence = _FENCE.match(lines[0])
    if fence and len(lines) > 2:
        opening, closing = lines[0], fence.group(1)
        body = lines[1:-1] if lines[-1].strip().startswith(closing) else lines[1:]
        room = limit - len(opening) - len(closing) - 2
        return [f"{opening}\n{part}\n{closing}" for part in _wrap(body, "\n", room)]
    separator = "\n" if len(lines) > 1 else " "
    pieces = lines if len(lines) > 1 else re.split(r"(?<=[.!?。！？])\s*", block)
    return _wrap([p for p in pieces if p], separator, limit)


def _wrap(pieces: Sequence[str], separator: str, limit: int) -> list[str]:
    parts: list[str] = []
    current = ""
    for piece in pieces:
        while len(piece) > limit:  # one line or sentence longer than a page: a hard cut
            if current:
                parts.append(current)
                current = ""
            parts.append(piece[:limit])
            piece = piece[limit:]
        candidate = f"{current}{separator}{piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
        else:
            parts.append(current)
            current = piece
    if current:
        parts.append(current)
    return parts


# -- the reply -------------------------------------------------------------------------------------


def page_index(view: LessonView, index: int) -> int:
    """The page :func:`page_reply` shows when asked for page ``index`` (out of range: the nearest one)."""
    return max(0, min(index, len(view.pages) - 1)) if view.pages else 0


def page_reply(view: LessonView, index: int, topics: LessonTopicsRecord | None = None) -> Reply:
    """Page ``index`` of a lesson: the first with the lesson's header and objectives, the last with Done.

    ``topics``, when given, are named under the lesson's title on its first page.
    """
    lesson, pages = view.lesson, view.pages
    index = page_index(view, index)
    page = pages[index] if pages else None
    lines: list[str] = []
    if index == 0:
        minutes = f", about {lesson.minutes} minutes" if lesson.minutes else ""
        lines += [f"Lesson {view.number} of {view.total} in {view.course_title}{minutes}:", lesson.title]
        if topics is not None:
            lines.append(lesson_topics_line(topics))
        if lesson.objectives:
            lines += ["", "You will learn to:"] + [f"- {o}" for o in lesson.objectives]
        if view.url:
            lines += ["", f"Also online: {view.url}"]
    else:
        lines.append(f"{lesson.title} ({index + 1} of {len(pages)})")
    citations: list[Citation] = []
    if page is not None:
        title = page.section or ("Introduction" if len(pages) > 1 else "")
        if page.parts > 1:
            title = f"{title} (part {page.part} of {page.parts})".strip()
        if index == 0 and len(pages) > 1:
            lines += ["", f"Section 1 of {len(pages)}" + (f": {title}" if title else "")]
        elif index > 0 and title:
            lines[-1] += f": {title}"
        lines += ["", page.text]
        if page.images:  # a listing, not the pictures; a long one would crowd out the text
            lines.append("")
            lines += [
                f"Image: {caption}" + (f" ({address})" if address else "")
                for caption, address in page.images[:MAX_IMAGES]
            ]
            more = len(page.images) - MAX_IMAGES
            if more > 0:
                lines.append(f"... and {more} more image{'s' if more > 1 else ''} in the course material.")
        c = page.chunk
        # Cite the section, not the subsection its first chunk happens to sit under.
        path = c.heading.split(" > ") if c.heading else []
        heading = " > ".join(path[: path.index(page.section) + 1]) if page.section in path else c.heading
        citations = [Citation(1, c.course_id, c.lesson_id, c.lesson_title, heading, c.source_path, 1.0)]
    last = index >= len(pages) - 1
    then = "ask me anything about it, then tap Done (or send /done)."
    if not pages:
        lines += ["", f"Read it in the course material, {then}"]
    elif last:
        lines += ["", f"That is the end of the lesson. {then[0].upper()}{then[1:]}"]
    else:
        lines += ["", "Tap Next section to read on, or ask me anything about this part."]
    if last:
        buttons = [[Button("Done", lesson_data("done", view.course_id, lesson.lesson_id))]]
    else:
        buttons = [[Button("Next section", page_data(index + 1, view.course_id, lesson.lesson_id))]]
    if view.url and index == 0:
        buttons.append([Button("Open the course online", url=view.url)])
    return Reply("\n".join(lines), citations, buttons)
