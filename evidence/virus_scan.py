"""Optional virus scan through clamd (ClamAV's daemon), enabled by CLAMD_SOCKET.

Speaks clamd's INSTREAM protocol over its Unix socket: "zINSTREAM\\0", then chunks each
prefixed with a 4-byte big-endian length, then a zero-length chunk; clamd answers
"stream: OK" or "stream: <signature> FOUND". The scan fails closed: when the scanner is
configured but cannot be reached, the upload is refused rather than accepted unscanned.
"""

from __future__ import annotations

import socket
import struct
from typing import IO

from django.conf import settings

CHUNK = 64 * 1024
TIMEOUT_SECONDS = 60


class ScanRefused(Exception):
    """The file is infected, or it could not be scanned; the message is for the person."""


def clamd_socket() -> str:
    return getattr(settings, "CLAMD_SOCKET", "") or ""


def scan(file: IO[bytes]) -> None:
    """Raise ScanRefused unless clamd reports the file clean. No-op without CLAMD_SOCKET."""
    path = clamd_socket()
    if not path:
        return
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT_SECONDS)
            sock.connect(path)
            sock.sendall(b"zINSTREAM\0")
            file.seek(0)
            for chunk in iter(lambda: file.read(CHUNK), b""):
                sock.sendall(struct.pack(">I", len(chunk)) + chunk)
            sock.sendall(struct.pack(">I", 0))
            reply = b""
            while not reply.endswith(b"\0"):
                part = sock.recv(4096)
                if not part:
                    break
                reply += part
    except OSError as exc:
        raise ScanRefused(
            "The virus scanner could not be reached, so the file was not accepted. "
            "Try again later or tell your administrator."
        ) from exc
    finally:
        file.seek(0)
    answer = reply.rstrip(b"\0").decode("utf-8", "replace")
    if answer.endswith("FOUND"):
        signature = answer.removeprefix("stream:").removesuffix("FOUND").strip()
        raise ScanRefused(f"The virus scanner flagged this file ({signature}); it was refused.")
    if not answer.endswith("OK"):
        raise ScanRefused("The virus scanner could not scan this file, so it was not accepted.")
