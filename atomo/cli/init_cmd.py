"""`atomo init <name> [-t default|crm|blog]` (cli chapter §4): a new project folder that `atomo dev` serves."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click

from atomo._version import __version__
from atomo.config import REGISTRY
from atomo.errors import AtomoError
from atomo.project import sample_dir

TEMPLATE_NAMES = ("default", "crm", "blog")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


def templates_dir() -> Path:
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "atomo" / "templates"
    return Path(__file__).resolve().parent.parent / "templates"


def template_source(template: str) -> Path:
    """The folder holding the template's schema.ts and seed.json (crm is the bundled sample project)."""
    return sample_dir() if template == "crm" else templates_dir() / template


def env_example() -> str:
    lines = ["# Every Atomo setting with its default. Copy what you change into .env (never commit secrets).", ""]
    for setting in REGISTRY:
        default = setting.default
        if isinstance(default, bool):
            value = "true" if default else "false"
        elif isinstance(default, tuple):
            value = ",".join(default)
        else:
            value = "" if default is None else str(default)
        lines.append(f"# {setting.help}")
        lines.append(f"# {setting.env}={value}")
    return "\n".join(lines) + "\n"


def readme(name: str, template: str) -> str:
    return f"""# {name}

An [Atomo](https://pypi.org/project/atomo/) project (template `{template}`): the data model is in
`schema.ts`; the server turns it into a GraphQL API with auth, events and realtime, stored in one
SQLite file (`.atomo/atomo.db`).

## Run

```sh
atomo dev              # serves http://127.0.0.1:3000/graphql, reloads when schema.ts changes
```

The first start creates the data file, applies `seed.json` and prints an admin password once
(set `ADMIN_PASSWORD` in `.env` to choose it). `atomo dev` also writes TypeScript types and the
GraphQL SDL to `generated/` (`atomo codegen` does it on demand).

## Change the schema

Edit `schema.ts`: additive changes (new models, optional fields, fields with defaults, indexes)
are applied at start. Renames, type changes and backfills go in SQL files:

```sh
atomo migrate --generate --name add_something   # writes migrations/<timestamp>_add_something.sql
atomo migrate                                   # applies pending files (every start does too)
```

## Editor types

`types/atomo-schema/` holds the TypeScript declarations that `schema.ts` imports (`@atomo-cc/schema`);
`package.json` and `tsconfig.json` point at it. Atomo never compiles `schema.ts`; to check it like
your editor does:

```sh
npm install                     # TypeScript only; the types are the local folder
npx tsc --noEmit
```

## Hooks

Business logic in Python goes in `hooks/*.py` (imported by `atomo dev`, `atomo serve` and the
executable; `atomo dev` reloads them on change): `@before("Deal", "create")` may change or refuse an
input, `@after("Deal", "create")` runs after the commit, `@query` / `@mutation` add GraphQL fields.
The decorators come from `atomo.hooks`.

## Seed

```sh
atomo seed                      # seed.json, through the normal write path (re-runnable: ids are skipped)
atomo seed --file more.json
```

## Deploy

```sh
atomo deploy                    # deploy/{name}-production/ and .tar.gz: executable, schema, systemd unit
```

Read `deploy/{name}-production/INSTALL.md` for the steps on the server.
"""


TYPES_DIR = "types/atomo-schema"   # the editor types of schema.ts, a local package named @atomo-cc/schema
TYPESCRIPT = "^5.4.0"


def schema_types() -> str:
    """The declarations of `@atomo-cc/schema` (one source: atomo/templates/schema-types/index.d.ts)."""
    return (templates_dir() / "schema-types" / "index.d.ts").read_text(encoding="utf-8")


def types_package_json() -> str:
    body = {"name": "@atomo-cc/schema", "version": __version__, "private": True,
            "description": f"Editor types for Atomo schema.ts files (written by atomo init {__version__})",
            "types": "./index.d.ts", "exports": {".": {"types": "./index.d.ts"}}}
    return json.dumps(body, indent=2) + "\n"


def package_json(name: str) -> str:
    package = re.sub(r"[^a-z0-9._-]", "-", name.lower()).lstrip("._") or "atomo-project"
    body = {"name": package, "private": True, "description": "Atomo project (schema.ts editor types only)",
            "scripts": {"typecheck": "tsc --noEmit"},
            "devDependencies": {"@atomo-cc/schema": f"file:{TYPES_DIR}", "typescript": TYPESCRIPT}}
    return json.dumps(body, indent=2) + "\n"


def tsconfig_json() -> str:
    """Type-checks schema.ts (`npx tsc --noEmit`); `paths` also serves editors before `npm install`."""
    body = {"compilerOptions": {"target": "ES2022", "lib": ["ES2022"], "module": "ESNext",
                                "moduleResolution": "Bundler", "strict": True, "noEmit": True, "types": [],
                                "paths": {"@atomo-cc/schema": [f"./{TYPES_DIR}"], "@atomo/schema": [f"./{TYPES_DIR}"]}},
            "include": ["schema.ts", "atomo/schema.ts", "src/schema.ts"]}
    return json.dumps(body, indent=2) + "\n"


def template_hooks(source: Path) -> dict[str, str]:
    """The template's hooks/*.py (Python business logic, see atomo.hooks), in name order."""
    folder = source / "hooks"
    files = sorted(folder.glob("*.py")) if folder.is_dir() else []
    return {f"hooks/{path.name}": path.read_text(encoding="utf-8") for path in files}


def project_files(name: str, template: str) -> dict[str, str]:
    source = template_source(template)
    return {
        "schema.ts": (source / "schema.ts").read_text(encoding="utf-8"),
        "seed.json": (source / "seed.json").read_text(encoding="utf-8"),
        **template_hooks(source),
        "migrations/.gitkeep": "",
        ".env": "ATOMO_ENV=development\nPORT=3000\n",
        ".env.example": env_example(),
        ".gitignore": ".atomo/\n.env\nbuild/\ndist/\ndeploy/\nnode_modules/\n",
        "package.json": package_json(name),
        "tsconfig.json": tsconfig_json(),
        f"{TYPES_DIR}/package.json": types_package_json(),
        f"{TYPES_DIR}/index.d.ts": schema_types(),
        "README.md": readme(name, template),
    }


@click.command("init")
@click.argument("name")
@click.option("-t", "--template", type=click.Choice(TEMPLATE_NAMES), default="default", show_default=True,
              help="default: a Note model; crm: Company, Contact, Deal; blog: Author, Post, Category, Comment.")
def init(name: str, template: str) -> None:
    """Create a new project folder.

    NAME is the folder to create ('.' for the current folder, which must be empty)."""
    if name != "." and not _NAME.match(name):
        raise click.BadParameter("must match [A-Za-z0-9][A-Za-z0-9._-]*", param_hint="NAME")
    target = Path(name)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise AtomoError(f"folder {name} already exists and is not empty")
    project_name = Path.cwd().name if name == "." else name
    files = project_files(project_name, template)
    target.mkdir(parents=True, exist_ok=True)
    for relative, content in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        click.echo(f"created {path.as_posix() if name != '.' else relative}")
    click.echo("Next: atomo dev" if name == "." else f"Next: cd {name} && atomo dev")
