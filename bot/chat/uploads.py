"""Admin course uploads through chat: a document or a zip of a course folder, checked before download.

A re-upload updates the same course: the id comes from the upload's ``course.toml`` or, without one,
from the file's name (``birds.zip`` and a browser's second copy ``birds (1).zip`` are both ``birds``).
"""

from __future__ import annotations

import asyncio
import io
import re
import stat
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath

from bot.messages import FileRef, Reply
from knowledge.ingest import IngestReport
from knowledge.loaders import CourseError, CourseOverrides, load_course, slugify
from knowledge.models import LoadProblem
from knowledge.readers import SUFFIXES

IngestFn = Callable[[Path, str | None], IngestReport]
"""Called as ``ingest(path, course_id)``; ``course_id`` is None when the course names itself."""
ACCEPTED = sorted(SUFFIXES | {".zip"})
MAX_ZIP_FILES = 5000
MAX_COURSE_ID = 60  # ids travel in button data (Telegram allows 64 bytes), keep them short
_COPY_SUFFIX = re.compile(r"\s*(\(\d+\)|copy)$", re.I)  # "birds (1).zip": a second download of the same file


class UploadError(Exception):
    """An upload that cannot be used; the message is shown to the admin."""


def upload_name(file_name: str) -> str:
    """The uploaded file's own name: no folder part (Windows or POSIX), no copy marks like `` (1)``."""
    # NFC: a Mac names "Café.zip" in decomposed form; the same course must get the same id from anywhere
    name = unicodedata.normalize("NFC", re.split(r"[\\/]", file_name)[-1]).strip()
    path = PurePosixPath(name)
    if not path.suffix and name.startswith("."):  # "   .zip": a suffix with no name in front
        path = PurePosixPath(f"course{name}")
    stem = _COPY_SUFFIX.sub("", path.stem if path.suffix else name).strip()
    return f"{stem or 'course'}{path.suffix.lower()}"


def upload_course_id(file_name: str) -> str:
    """The course id an upload without ``course.toml`` gets: its file name, as a slug."""
    return slugify(PurePosixPath(upload_name(file_name)).stem)[:MAX_COURSE_ID].strip("-_") or "course"


async def ingest_upload(
    file: FileRef, max_bytes: int, ingest: IngestFn, notify: Callable[[Reply], Awaitable[None]] | None = None
) -> Reply:
    """Download an admin's file (after the size check), unpack a zip safely, ingest, and report.

    Raises:
        UploadError: wrong type, too big, a broken zip, or a course that cannot be loaded.
    """
    suffix = PurePosixPath(upload_name(file.name)).suffix
    if suffix not in ACCEPTED:
        raise UploadError(
            f"{file.name}: I can load {', '.join(ACCEPTED)} files, not {suffix or 'this type'}."
        )
    if file.size > max_bytes:
        raise UploadError(
            f"{file.name} is {file.size / 1_048_576:.1f} MiB; the limit is {max_bytes / 1_048_576:.0f} MiB."
        )
    if notify is not None:
        await notify(Reply(f"Loading {file.name}… I'll tell you what was loaded and what was skipped."))
    data = await file.fetch()
    if len(data) > max_bytes:
        raise UploadError(f"{file.name} is larger than the {max_bytes / 1_048_576:.0f} MiB limit.")
    course_id: str | None = upload_course_id(file.name)
    skipped: list[LoadProblem] = []
    with tempfile.TemporaryDirectory(prefix="learnbot-upload-") as tmp:
        root = Path(tmp)
        if suffix == ".zip":
            target = root / "course"
            skipped = _unzip(data, target, max_bytes)
            # A zip of one course folder, maybe inside another ("birds-main/birds/course.toml" from a
            # repository download): the course is the first folder that holds more than one folder.
            while len(entries := _entries(target)) == 1 and entries[0].is_dir():
                target = entries[0]
            if (target / "course.toml").is_file():
                course_id = None  # the course names itself
        else:
            target = root / upload_name(file.name)
            target.write_bytes(data)
        try:
            report = await asyncio.to_thread(ingest, target, course_id)
        except CourseError as exc:
            # The admin knows the upload by its name, not by the folder it was unpacked into.
            where = str(exc).replace(str(target), file.name).replace(f"{tmp}/", "").replace(tmp, "")
            raise UploadError(where) from exc
    lines = [
        f"Loaded course {report.course_id}: {report.lessons} lessons, {report.chunks} chunks "
        f"({report.lessons_changed} lessons new or changed, {report.lessons_removed} removed)."
    ]
    problems = skipped + report.problems
    if problems:
        lines.append("Skipped:")
        lines += [f"- {p}" for p in problems[:20]]
        if len(problems) > 20:
            lines.append(f"- … and {len(problems) - 20} more")
    return Reply("\n".join(lines))


def _entries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]


def _unzip(data: bytes, target: Path, max_bytes: int) -> list[LoadProblem]:
    """Unpack a zip into ``target``; returns the entries left out (symbolic links).

    Raises:
        UploadError: a damaged, encrypted or oversized zip, or one with paths outside ``target``.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise UploadError("the zip file is damaged; zip the course again and resend it") from exc
    members = archive.infolist()
    if len(members) > MAX_ZIP_FILES:
        raise UploadError(f"the zip holds {len(members)} files; the limit is {MAX_ZIP_FILES}")
    if sum(m.file_size for m in members) > 4 * max_bytes:
        raise UploadError("the zip unpacks to more than four times the upload limit")
    target.mkdir(parents=True)
    for member in members:
        # Old Windows zippers write "birds\\01-owls.md"; zipfile unpacks that as one odd file name.
        member.filename = member.filename.replace("\\", "/")
        path = (target / member.filename).resolve()
        if not path.is_relative_to(target.resolve()):  # "zip slip": ../../etc/passwd
            raise UploadError(f"the zip contains an unsafe path: {member.filename}")
    # zipfile writes a link entry as a file holding the link's target ("/etc/passwd"): leave it out.
    links = [m for m in members if stat.S_ISLNK(m.external_attr >> 16)]
    wanted = [m for m in members if m not in links]
    try:
        archive.extractall(target, members=wanted)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        # A zip whose entries lie about their size fails its checksum here: nothing beyond the
        # declared size is ever written.
        raise UploadError(f"the zip file is damaged ({exc}); zip the course again and resend it") from exc
    except RuntimeError as exc:  # zipfile's word for "encrypted, password required"
        raise UploadError("the zip is password-protected; send it without a password") from exc
    except NotImplementedError as exc:
        raise UploadError(f"the zip uses a compression I cannot unpack ({exc}); use plain zip") from exc
    return [LoadProblem(m.filename, "a symbolic link in the zip (links are not followed)") for m in links]


def ingest_with(
    ingestor,  # noqa: ANN001 - an Ingestor
    path: Path,
    course_id: str | None = None,
    max_document_bytes: int | None = None,
) -> IngestReport:
    """Load and ingest a course folder or file (what the composition root hands the bot).

    Args:
        ingestor: The app's ingestor.
        path: The unpacked upload.
        course_id: The id to give a course that does not name itself; None keeps the loader's.
        max_document_bytes: Documents with more text than this are skipped and reported.
    """
    course = load_course(path, CourseOverrides(course_id=course_id), max_document_bytes=max_document_bytes)
    return ingestor.ingest(course)
