"""The data file is private (issue 10, item 9): created by ``atomo serve`` with a 0700 folder and 0600
files (SQLite gives ``-wal``/``-shm`` the main file's mode); an existing readable file is left as it is,
with a warning at boot."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from atomo.storage.files import prepare_data_file
from tests.e2e.conftest import ServerProcess, gql_post, login


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_serve_creates_a_private_data_folder_and_files(start_server: Callable[..., ServerProcess],
                                                       tmp_path: Path) -> None:
    old = os.umask(0o022)          # the usual umask: without care SQLite would create 0644 files
    try:
        server = start_server(tmp_path / "fresh")
    finally:
        os.umask(old)
    token = login(server.base_url)
    created = gql_post(server.base_url, 'mutation { create(model: "Contact", data: {firstName: "A", lastName: "B", '
                                        'email: "a@b.test"}) }', token=token)
    assert created.status_code == 200 and "errors" not in created.json(), created.text
    folder = server.project / ".atomo"
    assert mode(folder) == 0o700
    files = [folder / "atomo.db", folder / "atomo.db-wal", folder / "atomo.db-shm"]
    assert all(f.exists() for f in files)
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert "readable by other users" not in server.stderr


def test_existing_readable_file_is_kept_with_a_warning(start_server: Callable[..., ServerProcess],
                                                       tmp_path: Path) -> None:
    project = tmp_path / "shared"
    (project / ".atomo").mkdir(parents=True)
    data = project / ".atomo" / "atomo.db"
    data.touch()
    data.chmod(0o644)
    server = start_server(project)
    server.stop()
    assert mode(data) == 0o644
    assert "atomo.db is readable by other users (mode 0o644)" in server.stderr


def test_prepare_data_file_only_creates_what_is_missing(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "data.db"
    assert prepare_data_file(target) is True
    assert mode(target) == 0o600 and mode(target.parent) == 0o700 and target.stat().st_size == 0
    target.chmod(0o640)
    assert prepare_data_file(target) is True        # still empty: a new file
    target.write_bytes(b"SQLite format 3\0")
    assert prepare_data_file(target) is False
    assert mode(target) == 0o640
