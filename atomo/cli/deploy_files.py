"""The generated files of an `atomo deploy` bundle: env template, systemd unit, Dockerfile, INSTALL.md."""

from __future__ import annotations

import secrets

from atomo.cli.init_cmd import env_example


def env_file(project: str, env: str) -> str:
    atomo_env = "development" if env == "development" else "production"
    secret = secrets.token_hex(32)
    return f"""\
# Atomo settings of {project} ({env}). Install as /etc/{project}/atomo.env, owned by root, mode 600:
#   sudo install -D -m 600 atomo.env.example /etc/{project}/atomo.env
ATOMO_ENV={atomo_env}
HOST=127.0.0.1
PORT=3000
ATOMO_DATA_FILE=/var/lib/{project}/atomo.db

# Required in production: the HS256 signing key, at least 32 characters. Make one with
#   openssl rand -hex 32
# or use this one, generated for this bundle (keep it secret; changing it logs everybody out):
#   JWT_SECRET={secret}
JWT_SECRET=

# The admin account created at the first start (production never generates a password). The password
# must satisfy the password policy (PASSWORD_MIN_LENGTH, PASSWORD_REQUIRE_COMPLEXITY); remove it after
# the first start.
ADMIN_EMAIL=admin@example.com
ADMIN_PASSWORD=

{env_example()}"""


def systemd_unit(project: str) -> str:
    return f"""\
[Unit]
Description=Atomo server ({project})
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=atomo
Group=atomo
WorkingDirectory=/opt/{project}
EnvironmentFile=/etc/{project}/atomo.env
ExecStart=/opt/{project}/atomo-server --project /opt/{project} serve
Restart=on-failure
RestartSec=2
TimeoutStopSec=30
KillSignal=SIGTERM
NoNewPrivileges=true
PrivateTmp=true
ProtectSystem=strict
ProtectHome=true
ReadWritePaths=/var/lib/{project}

[Install]
WantedBy=multi-user.target
"""


def dockerfile(project: str) -> str:
    return f"""\
# The executable is built on glibc Linux; run it on a base image with a compatible glibc.
FROM debian:bookworm-slim
RUN useradd --system --home-dir /var/lib/{project} --create-home atomo
WORKDIR /opt/{project}
COPY --chown=root:root . /opt/{project}/
RUN rm -f /opt/{project}/atomo.env.example /opt/{project}/{project}.service /opt/{project}/Dockerfile \\
    && chmod 755 /opt/{project}/atomo-server
USER atomo
ENV ATOMO_ENV=production HOST=0.0.0.0 PORT=3000 ATOMO_DATA_FILE=/var/lib/{project}/atomo.db
VOLUME ["/var/lib/{project}"]
EXPOSE 3000
# JWT_SECRET and ADMIN_PASSWORD come from the environment: docker run --env-file atomo.env ...
ENTRYPOINT ["/opt/{project}/atomo-server", "--project", "/opt/{project}"]
CMD ["serve"]
"""


def install_md(project: str, env: str, files: list[str]) -> str:
    listing = "\n".join(f"- `{name}`" for name in files)
    return f"""\
# Installing {project} ({env})

This bundle runs without Python: `atomo-server` is a standalone executable (glibc Linux, x86-64) that
reads `schema.ts`, `migrations/` and its settings at run time. Contents:

{listing}

## With systemd

```sh
# 1. the program and the project files
sudo mkdir -p /opt/{project}
sudo cp -r . /opt/{project}/
sudo chmod 755 /opt/{project}/atomo-server

# 2. a system user and the data folder (the only place the service may write)
sudo useradd --system --home-dir /var/lib/{project} --shell /usr/sbin/nologin atomo
sudo install -d -o atomo -g atomo -m 750 /var/lib/{project}

# 3. the settings: fill JWT_SECRET (openssl rand -hex 32) and ADMIN_PASSWORD
sudo install -D -m 600 atomo.env.example /etc/{project}/atomo.env
sudo editor /etc/{project}/atomo.env

# 4. check, then start at boot
sudo -u atomo env $(sudo cat /etc/{project}/atomo.env | grep -v '^#' | xargs) \\
    /opt/{project}/atomo-server --project /opt/{project} serve --check
sudo cp {project}.service /etc/systemd/system/{project}.service
sudo systemctl daemon-reload
sudo systemctl enable --now {project}
curl -s http://127.0.0.1:3000/health        # OK
```

Every start applies pending `migrations/*.sql` and the boot migration before listening. Logs:
`journalctl -u {project} -f`. To update, copy a new bundle over `/opt/{project}` and
`sudo systemctl restart {project}`; the data in `/var/lib/{project}` stays.

The server listens on 127.0.0.1:3000: put a reverse proxy (TLS) in front, or set `HOST` explicitly.

## With Docker

```sh
docker build -t {project} .
docker run -d --name {project} -p 3000:3000 --env-file atomo.env -v {project}-data:/var/lib/{project} {project}
```

## Backups

The data is one SQLite file (`/var/lib/{project}/atomo.db`, WAL mode). Back it up with
`sqlite3 /var/lib/{project}/atomo.db ".backup /backups/{project}.db"` while the service runs.
"""
