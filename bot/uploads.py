"""Admin course uploads through chat: a document or a zip of a course folder, checked before download."""

from __future__ import annotations

import asyncio
import tempfile
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath

from bot.messages import FileRef, Reply
from knowledge.ingest import IngestReport
from knowledge.loaders import CourseError, load_course
from knowledge.readers import SUFFIXES

IngestFn = Callable[[Path], IngestReport]
ACCEPTED = sorted(SUFFIXES | {".zip"})
MAX_ZIP_FILES = 5000


class UploadError(Exception):
    """An upload that cannot be used; the message is shown to the admin."""


async def ingest_upload(
    file: FileRef, max_bytes: int, ingest: IngestFn, notify: Callable[[Reply], Awaitable[None]] | None = None
) -> Reply:
    """Download an admin's file (after the size check), unpack a zip safely, ingest, and report.

    Raises:
        UploadError: wrong type, too big, a broken zip, or a course that cannot be loaded.
    """
    suffix = PurePosixPath(file.name).suffix.lower()
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
    with tempfile.TemporaryDirectory(prefix="learnbot-upload-") as tmp:
        root = Path(tmp)
        if suffix == ".zip":
            target = root / "course"
            _unzip(data, target, max_bytes)
            entries = [p for p in target.iterdir() if not p.name.startswith((".", "__MACOSX"))]
            if len(entries) == 1 and entries[0].is_dir():  # a zip of one course folder
                target = entries[0]
        else:
            target = root / PurePosixPath(file.name).name
            target.write_bytes(data)
        try:
            report = await asyncio.to_thread(ingest, target)
        except CourseError as exc:
            raise UploadError(str(exc).replace(tmp, "")) from exc
    lines = [
        f"Loaded course {report.course_id}: {report.lessons} lessons, {report.chunks} chunks "
        f"({report.lessons_changed} lessons new or changed, {report.lessons_removed} removed)."
    ]
    if report.problems:
        lines.append("Skipped:")
        lines += [f"- {p}" for p in report.problems[:20]]
    return Reply("\n".join(lines))


def _unzip(data: bytes, target: Path, max_bytes: int) -> None:
    import io

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise UploadError("the zip file is damaged") from exc
    members = archive.infolist()
    if len(members) > MAX_ZIP_FILES:
        raise UploadError(f"the zip holds {len(members)} files; the limit is {MAX_ZIP_FILES}")
    if sum(m.file_size for m in members) > 4 * max_bytes:
        raise UploadError("the zip unpacks to more than four times the upload limit")
    target.mkdir(parents=True)
    for member in members:
        path = (target / member.filename).resolve()
        if not path.is_relative_to(target.resolve()):  # "zip slip": ../../etc/passwd
            raise UploadError(f"the zip contains an unsafe path: {member.filename}")
    archive.extractall(target)


def ingest_with(ingestor, path: Path) -> IngestReport:  # noqa: ANN001 - an Ingestor
    """Load and ingest a course folder or file (what the composition root hands the bot)."""
    return ingestor.ingest(load_course(path))
