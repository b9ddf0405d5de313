"""Receiving evidence files safely.

* `HashingUploadHandler` streams the upload to a temporary file while computing its SHA-256,
  its size and whether it is valid UTF-8 without NUL bytes, keeping the first few KB for
  content sniffing. Memory stays flat whatever the size; the file is never read a second time
  for hashing. Past `AIGSEC_MAX_UPLOAD_BYTES` the upload is stopped.
* `inspect_upload` decides, from the content (magic bytes) and the sanitised name, whether the
  file is accepted, and what its content type is. ZIP-based files are checked for
  decompression bombs and unsafe entry names from the central directory; a ZIP inside is
  unpacked to a temporary file (bounded) and checked the same way, to ZIP_MAX_DEPTH levels.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import shutil
import tempfile
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from . import virus_scan

HEAD_BYTES = 8192
DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024

ZIP_MAX_ENTRIES = 10_000
ZIP_MAX_TOTAL = 1024**3  # 1 GB uncompressed
ZIP_MAX_RATIO = 100
ZIP_RATIO_MIN_SIZE = 1024 * 1024  # tiny entries compress well without being bombs
ZIP_MAX_DEPTH = 3  # a ZIP in a ZIP in a ZIP; an archive nested deeper is refused
# Compressed formats a ZIP may hold that cannot be checked from a directory: refused inside.
_OTHER_ARCHIVES = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip"),
    (b"Rar!\x1a\x07", "RAR"),
    (b"(\xb5/\xfd", "Zstandard"),
)

# sniffed type -> (content type, label, extensions allowed for it)
TYPES: dict[str, tuple[str, str, frozenset[str]]] = {
    "pdf": ("application/pdf", "PDF", frozenset({"pdf"})),
    "png": ("image/png", "PNG", frozenset({"png"})),
    "jpeg": ("image/jpeg", "JPEG", frozenset({"jpg", "jpeg"})),
    "gif": ("image/gif", "GIF", frozenset({"gif"})),
    "webp": ("image/webp", "WebP", frozenset({"webp"})),
    "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "a Word document (DOCX)",
        frozenset({"docx"}),
    ),
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "an Excel workbook (XLSX)",
        frozenset({"xlsx"}),
    ),
    "pptx": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "a PowerPoint presentation (PPTX)",
        frozenset({"pptx"}),
    ),
    "odt": ("application/vnd.oasis.opendocument.text", "an ODF text (ODT)", frozenset({"odt"})),
    "ods": (
        "application/vnd.oasis.opendocument.spreadsheet",
        "an ODF spreadsheet (ODS)",
        frozenset({"ods"}),
    ),
    "zip": ("application/zip", "a ZIP archive", frozenset({"zip"})),
    "text": (
        "text/plain",
        "plain text",
        frozenset({"txt", "md", "markdown", "csv", "json", "yaml", "yml"}),
    ),
}
TEXT_TYPES = {
    "txt": "text/plain",
    "md": "text/markdown",
    "markdown": "text/markdown",
    "csv": "text/csv",
    "json": "application/json",
    "yaml": "application/yaml",
    "yml": "application/yaml",
}
ALLOWED_EXTENSIONS = sorted(set().union(*(t[2] for t in TYPES.values())))
_MARKUP = (b"<html", b"<!doctype", b"<svg", b"<script", b"<?xml", b"<head", b"<body", b"<iframe")


def max_upload_bytes() -> int:
    return int(getattr(settings, "AIGSEC_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES))


# --- Streaming ------------------------------------------------------------------------------


class UploadTooLarge(Exception):
    pass


class HashingUploadHandler(FileUploadHandler):
    """Stream files to disk while hashing them. Install first, before request.POST is read:

    request.upload_handlers.insert(0, HashingUploadHandler(request))

    The resulting `TemporaryUploadedFile` carries `sha256`, `size`, `head` (first bytes) and
    `is_text` (valid UTF-8, no NUL bytes). `too_large` is set when the limit stopped the upload.
    """

    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.limit = max_upload_bytes()
        self.too_large = False

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.file = TemporaryUploadedFile(
            self.file_name, self.content_type, 0, self.charset, self.content_type_extra
        )
        self._hasher = hashlib.sha256()
        self._size = 0
        self._head = b""
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._is_text = True

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self._size += len(raw_data)
        if self._size > self.limit:
            self.too_large = True
            self.file.close()  # deletes the temporary file
            raise StopUpload(connection_reset=False)
        self._hasher.update(raw_data)
        if len(self._head) < HEAD_BYTES:
            self._head += raw_data[: HEAD_BYTES - len(self._head)]
        if self._is_text:
            if b"\x00" in raw_data:
                self._is_text = False
            else:
                try:
                    self._decoder.decode(raw_data)
                except UnicodeDecodeError:
                    self._is_text = False
        self.file.write(raw_data)
        return None  # this handler consumes the data; later handlers see nothing

    def file_complete(self, file_size: int) -> TemporaryUploadedFile:
        if self._is_text:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self._is_text = False
        self.file.seek(0)
        self.file.size = file_size
        self.file.sha256 = self._hasher.hexdigest()
        self.file.head = self._head
        self.file.is_text = self._is_text
        return self.file

    def upload_interrupted(self) -> None:
        if hasattr(self, "file"):
            self.file.close()


def install_upload_handler(request: Any) -> HashingUploadHandler:
    handler = HashingUploadHandler(request)
    request.upload_handlers.insert(0, handler)
    return handler


def stream_facts(file: IO[bytes]) -> tuple[str, int, bytes, bool]:
    """(sha256, size, head, is_text) of a file not received through the handler (one pass)."""
    if all(hasattr(file, a) for a in ("sha256", "head", "is_text")):
        return file.sha256, file.size, file.head, file.is_text  # type: ignore[attr-defined]
    hasher, size, head = hashlib.sha256(), 0, b""
    decoder, is_text = codecs.getincrementaldecoder("utf-8")(), True
    file.seek(0)
    for chunk in iter(lambda: file.read(64 * 1024), b""):
        size += len(chunk)
        if size > max_upload_bytes():
            raise UploadTooLarge
        hasher.update(chunk)
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
        if is_text:
            try:
                is_text = b"\x00" not in chunk and bool(decoder.decode(chunk) or True)
            except UnicodeDecodeError:
                is_text = False
    if is_text:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            is_text = False
    file.seek(0)
    return hasher.hexdigest(), size, head, is_text


# --- Names ----------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def sanitise_filename(name: str | None, max_length: int = 200) -> str:
    """The user's filename as harmless metadata: no directories, no control characters."""
    name = (name or "").replace("\\", "/").split("/")[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp"))
    name = _UNSAFE.sub("", name).strip().strip(".").strip()
    if not name:
        return "file"
    if len(name) > max_length:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: max_length - len(ext) - 1] + "." + ext
        else:
            name = name[:max_length]
    return name


def extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


# --- Content --------------------------------------------------------------------------------


def _refuse(message: str) -> ValidationError:
    return ValidationError({"file": message})


def looks_like_markup(head: bytes) -> bool:
    start = head.lstrip(b" \t\r\n\xef\xbb\xbf")
    if not start.startswith(b"<"):
        return False
    low = start.lower()
    return any(tag in low for tag in _MARKUP)


@dataclass
class _ZipBudget:
    """What an archive and every archive inside it may cost together."""

    entries: int = 0
    expanded: int = 0  # declared uncompressed bytes, all levels
    unpacked: int = 0  # bytes of inner archives decompressed to check them


def _inside(path: tuple[str, ...]) -> str:
    return f" (inside {' / '.join(p[:100] for p in path)})" if path else ""


def _check_zip(zf: zipfile.ZipFile, path: tuple[str, ...], budget: _ZipBudget) -> None:
    """Refuse a ZIP, or an archive nested in it at any depth, that is a bomb or unsafe.

    Every level gets the same checks from its central directory (entry count, unsafe names,
    per-entry ratio); the counts and the expanded size add up across levels, so a zip of
    many just-small-enough bombs still adds up to a refusal. An entry whose content is a ZIP
    (by its first bytes, not its name) is unpacked to a temporary file, at most
    `max_upload_bytes()` for all of them together, and checked the same way, down to
    ZIP_MAX_DEPTH levels (42.zip is five). Other compressed formats inside cannot be checked
    without decompressing them, so they are refused with a message that says what to do."""
    where = _inside(path)
    infos = zf.infolist()
    budget.entries += len(infos)
    if budget.entries > ZIP_MAX_ENTRIES:
        raise _refuse(f"The archive has more than {ZIP_MAX_ENTRIES:,} entries{where}.")
    for info in infos:
        n = info.filename.replace("\\", "/")
        if n.startswith("/") or re.match(r"^[A-Za-z]:", n) or ".." in n.split("/"):
            raise _refuse(f"The archive contains an entry with an unsafe path{where}.")
        budget.expanded += info.file_size
        if info.file_size > ZIP_RATIO_MIN_SIZE and info.file_size > ZIP_MAX_RATIO * max(
            info.compress_size, 1
        ):
            raise _refuse(
                "The archive looks like a decompression bomb (an entry expands more "
                f"than {ZIP_MAX_RATIO} times){where}."
            )
    if budget.expanded > ZIP_MAX_TOTAL:
        raise _refuse(f"The archive would expand to more than 1 GB{where}.")
    for info in infos:
        # Encrypted entries cannot be read without their password; directories hold nothing.
        if info.is_dir() or info.flag_bits & 0x1 or info.file_size < 4:
            continue
        with zf.open(info) as fh:
            magic = fh.read(6)
        inner = (*path, info.filename)
        if magic[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
            _check_inner_zip(zf, info, inner, budget)
            continue
        for start, label in _OTHER_ARCHIVES:
            if magic.startswith(start):
                raise _refuse(
                    f"The archive contains a {label} file ({info.filename[:100]}){where}, "
                    "which cannot be checked for decompression bombs. Put its files in the "
                    "ZIP unpacked, or as a ZIP."
                )


def _check_inner_zip(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: tuple[str, ...], budget: _ZipBudget
) -> None:
    if len(path) >= ZIP_MAX_DEPTH:
        raise _refuse(
            f"The archive contains archives nested more than {ZIP_MAX_DEPTH} deep"
            f"{_inside(path)}; unpack the inner ones and upload again."
        )
    budget.unpacked += info.file_size
    if budget.unpacked > max_upload_bytes():
        raise _refuse(
            "The archives inside the archive are too large to check together; "
            "upload them separately."
        )
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as tmp:
        with zf.open(info) as fh:
            shutil.copyfileobj(fh, tmp, 64 * 1024)
        tmp.seek(0)
        try:
            with zipfile.ZipFile(tmp) as inner:
                _check_zip(inner, path, budget)
        except (zipfile.BadZipFile, EOFError, NotImplementedError):
            raise _refuse(
                f"The archive contains an archive that cannot be read{_inside(path)}."
            ) from None


def _zip_kind(file: IO[bytes]) -> str:
    file.seek(0)
    try:
        with zipfile.ZipFile(file) as zf:
            _check_zip(zf, (), _ZipBudget())
            names = {i.filename for i in zf.infolist()}
            if "[Content_Types].xml" in names:
                for prefix, kind in (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx")):
                    if any(n.startswith(prefix) for n in names):
                        return kind
                return "zip"
            if "mimetype" in names and zf.getinfo("mimetype").file_size <= 100:
                mimetype = zf.read("mimetype").strip()
                if mimetype == b"application/vnd.oasis.opendocument.text":
                    return "odt"
                if mimetype == b"application/vnd.oasis.opendocument.spreadsheet":
                    return "ods"
            return "zip"
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, zlib.error):
        raise _refuse("The file looks like a ZIP archive but cannot be read.") from None
    finally:
        file.seek(0)


def sniff(head: bytes, is_text: bool, file: IO[bytes]) -> str | None:
    """The type of the content, a key of TYPES, or None if it is not an accepted type."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _zip_kind(file)
    if is_text and head and not looks_like_markup(head):
        return "text"
    return None


@dataclass(frozen=True)
class Inspected:
    original_name: str
    content_type: str
    sha256: str
    size: int


def inspect_upload(file: Any) -> Inspected:
    """Accept or refuse an uploaded file (ValidationError on "file" with a clear message)."""
    name = sanitise_filename(getattr(file, "name", None))
    try:
        sha256, size, head, is_text = stream_facts(file)
    except UploadTooLarge:
        raise _refuse(too_large_message()) from None
    if size > max_upload_bytes():
        raise _refuse(too_large_message())
    if size == 0:
        raise _refuse("The file is empty.")
    ext = extension(name)
    if looks_like_markup(head):
        raise _refuse("HTML, SVG and XML files are not accepted; upload a PDF or image instead.")
    kind = sniff(head, is_text, file)
    if kind is None:
        raise _refuse(
            "This type of file is not accepted. Accepted: PDF, PNG, JPEG, GIF, WebP, plain "
            "text, Markdown, CSV, JSON, YAML, DOCX, XLSX, PPTX, ODT, ODS and ZIP."
        )
    content_type, label, allowed = TYPES[kind]
    if ext not in allowed:
        shown = f"ends in .{ext}" if ext else "has no extension"
        raise _refuse(
            f"The file's content is {label} but its name {shown}. "
            f"Rename it to .{sorted(allowed)[0]} or upload the right file."
        )
    if kind == "text":
        content_type = TEXT_TYPES[ext]
    try:
        virus_scan.scan(file)  # last: only files otherwise acceptable reach the scanner
    except virus_scan.ScanRefused as exc:
        raise _refuse(str(exc)) from None
    return Inspected(original_name=name, content_type=content_type, sha256=sha256, size=size)


def too_large_message() -> str:
    limit = max_upload_bytes()
    shown = f"{limit / 1024**2:g} MB" if limit >= 1024**2 else f"{limit / 1024:g} KB"
    return f"The file is larger than the limit of {shown}."
