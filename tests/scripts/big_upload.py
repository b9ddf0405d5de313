"""Upload a large generated file through the real evidence upload view, streaming the request
body, and report peak memory. Run by tests/evidence/test_upload_memory.py in its own process,
so that ru_maxrss measures this upload alone. Usage: big_upload.py MEGABYTES"""

import hashlib
import json
import resource
import sys

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.client import ClientHandler  # noqa: E402

from aigsec.accounts.models import Membership, Role, Team, User  # noqa: E402
from evidence.models import EvidenceRevision  # noqa: E402

MB = 1024 * 1024
size = int(sys.argv[1]) * MB
LINE = b"model-output-log,2026-11-23T10:00:00Z,ok,0.93\n"  # CSV-ish text, valid UTF-8


class Body:
    """A multipart body generated on the fly: never held in memory as a whole."""

    def __init__(self, boundary: bytes):
        self.prefix = (
            b"--" + boundary + b'\r\nContent-Disposition: form-data; name="kind"\r\n\r\nfile\r\n'
            b"--"
            + boundary
            + b'\r\nContent-Disposition: form-data; name="title"\r\n\r\nBig log\r\n'
            b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; '
            b'filename="big.txt"\r\nContent-Type: text/plain\r\n\r\n'
        )
        self.suffix = b"\r\n--" + boundary + b"--\r\n"
        self.length = len(self.prefix) + size + len(self.suffix)
        self.pos = 0
        self.block = LINE * (MB // len(LINE) + 1)

    def _byte_range(self, start: int, end: int) -> bytes:
        out = bytearray()
        p = len(self.prefix)
        while start < end:
            if start < p:
                piece = self.prefix[start:end]
            elif start < p + size:
                off = (start - p) % len(LINE)
                n = min(end, p + size) - start
                piece = self.block[off : off + min(n, len(self.block) - off)]
            else:
                piece = self.suffix[start - p - size : end - p - size]
            out += piece
            start += len(piece)
        return bytes(out)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.length - self.pos
        n = min(n, self.length - self.pos)
        data = self._byte_range(self.pos, self.pos + n)
        self.pos += len(data)
        return data

    def readline(self, limit: int = -1) -> bytes:  # not used by the multipart parser
        return self.read(limit)


def expected_sha256() -> str:
    h, block = hashlib.sha256(), LINE * (MB // len(LINE) + 1)
    done = 0
    while done < size:
        off = done % len(LINE)
        piece = block[off : off + min(size - done, len(block) - off)]
        h.update(piece)
        done += len(piece)
    return h.hexdigest()


call_command("migrate", verbosity=0)
team = Team.objects.create(name="Big", slug="big")
user = User.objects.create_user(email="big@example.test", password=None)
Membership.objects.create(team=team, user=user, role=Role.RISK_OWNER)
client = Client()
client.force_login(user)
cookie = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())

boundary = b"aigsecBoundary0123456789"
body = Body(boundary)
environ = {
    "REQUEST_METHOD": "POST",
    "PATH_INFO": "/evidence/new/",
    "SERVER_NAME": "testserver",
    "SERVER_PORT": "80",
    "wsgi.url_scheme": "http",
    "wsgi.input": body,
    "CONTENT_TYPE": "multipart/form-data; boundary=" + boundary.decode(),
    "CONTENT_LENGTH": str(body.length),
    "HTTP_COOKIE": cookie,
    "REMOTE_ADDR": "127.0.0.1",
}
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
response = ClientHandler(enforce_csrf_checks=False)(environ)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rev = EvidenceRevision.objects.first()
print(
    json.dumps(
        {
            "status": response.status_code,
            "size": rev.size if rev else None,
            "sha256_ok": bool(rev) and rev.sha256 == expected_sha256(),
            "rss_growth_mb": round((after - before) / 1024, 1),
        }
    )
)
