"""The optional clamd hook: files go through clamd's INSTREAM protocol when CLAMD_SOCKET is set.

ClamAV itself is not part of aigsec and not installed here, so a small stand-in daemon on a
Unix socket speaks the same protocol (the real `clamd` answers identically)."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile

from evidence.models import EvidenceItem, EvidenceRevision
from evidence.services import evidence_create

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def _serve(server: socket.socket, seen: list[bytes]) -> None:
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            buf = b""
            while not buf.startswith(b"zINSTREAM\0") or len(buf) < 10:
                buf += conn.recv(4096)
            buf, data = buf[10:], b""
            while True:
                while len(buf) < 4:
                    buf += conn.recv(65536)
                (n,) = struct.unpack(">I", buf[:4])
                buf = buf[4:]
                if n == 0:
                    break
                while len(buf) < n:
                    buf += conn.recv(65536)
                data, buf = data + buf[:n], buf[n:]
            seen.append(data)
            verdict = b"stream: Eicar-Test-Signature FOUND\0" if EICAR in data else b"stream: OK\0"
            conn.sendall(verdict)


@pytest.fixture
def clamd(tmp_path, settings):
    path = tmp_path / "clamd.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)
    seen: list[bytes] = []
    threading.Thread(target=_serve, args=(server, seen), daemon=True).start()
    settings.CLAMD_SOCKET = str(path)
    yield seen
    server.close()


def _upload(personas, data: bytes, name: str):
    return evidence_create(
        team=personas.team,
        actor=personas.risk_owner,
        kind="file",
        title="Scanned",
        uploaded_file=ContentFile(data, name=name),
    )


def _stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.django_db
def test_clean_file_is_scanned_and_accepted(personas, clamd):
    item = _upload(personas, b"asset,owner\nmodel,alice\n", "inventory.csv")
    assert clamd == [b"asset,owner\nmodel,alice\n"]  # the whole file reached the scanner
    assert item.revisions.count() == 1


@pytest.mark.django_db
def test_infected_file_is_refused_and_nothing_is_kept(personas, clamd, settings):
    with pytest.raises(ValidationError, match="flagged this file \\(Eicar-Test-Signature\\)"):
        _upload(personas, EICAR + b"\n", "notes.txt")
    assert not EvidenceItem.objects.exists() and not EvidenceRevision.objects.exists()
    assert _stored_files(settings) == []


@pytest.mark.django_db
def test_unreachable_scanner_fails_closed(personas, settings, tmp_path):
    settings.CLAMD_SOCKET = str(tmp_path / "nobody-listens.sock")
    with pytest.raises(ValidationError, match="could not be reached"):
        _upload(personas, b"plain text\n", "notes.txt")
    assert not EvidenceItem.objects.exists()


@pytest.mark.django_db
def test_without_clamd_socket_nothing_is_scanned(personas, settings):
    settings.CLAMD_SOCKET = ""
    assert _upload(personas, EICAR + b"\n", "notes.txt").revisions.count() == 1
