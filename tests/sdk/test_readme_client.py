"""The README's "Client SDK" section as a user meets it: in a fresh app folder with `@atomo-cc/client` installed
from sdk/client-ts and `generated/atomo.ts` written by `atomo codegen`, both snippets type-check with
`tsc --strict` (the React one as TSX), and the TypeScript one, compiled, runs against a real server on port 3000
started as the Quick reference starts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import ServerProcess, server_env
from tests.e2e.test_readme import blocks, readme_port, section  # noqa: F401 (fixture)
from tests.sdk.conftest import crm_project

TSCONFIG = {
    "compilerOptions": {
        "target": "ES2022", "module": "ESNext", "moduleResolution": "Bundler", "lib": ["ES2022", "DOM"],
        "jsx": "react-jsx", "strict": True, "skipLibCheck": True, "types": [], "outDir": "out",
    },
    "include": ["app.ts", "App.tsx", "generated"],
}


def app_folder(sdk: Path, root: Path) -> Path:
    """A new app: package.json, node_modules with the client (and react, ws for Node) linked, generated types."""
    app = root / "app"
    app.mkdir()
    (app / "package.json").write_text(json.dumps({"name": "readme-app", "private": True, "type": "module"}))
    modules = app / "node_modules"
    (modules / "@atomo-cc").mkdir(parents=True)
    (modules / "@atomo-cc" / "client").symlink_to(sdk)
    (modules / "@types").mkdir()
    for name in ("react", "react-dom", "ws", "typescript", "@types/react", "@types/react-dom"):
        (modules / name).symlink_to(sdk / "node_modules" / name)
    (root / "schema").mkdir()
    schema = crm_project(root / "schema")          # the bundled sample's schema, where `atomo codegen` runs
    result = subprocess.run([sys.executable, "-m", "atomo", "codegen", "-o", str(app / "generated")], cwd=schema,
                            env=server_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (app / "generated" / "atomo.ts").is_file()
    return app


def test_client_sdk_snippets_type_check_and_run(built_sdk: Path, tmp_path: Path, readme_port: int) -> None:  # noqa: F811
    (script,) = blocks(section("Client SDK"), "typescript")
    (component,) = blocks(section("Client SDK"), "tsx")
    app = app_folder(built_sdk, tmp_path)
    (app / "app.ts").write_text(script)
    (app / "App.tsx").write_text(component)
    (app / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    tsc = [str(app / "node_modules" / "typescript" / "bin" / "tsc"), "-p", "tsconfig.json"]
    checked = subprocess.run(["node", *tsc], cwd=app, capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # a wrong field must not type-check (the snippet is really checked against the generated types)
    (app / "App.tsx").write_text(component.replace("{ stage: 'won' }", "{ stagee: 'won' }"))
    wrong = subprocess.run(["node", *tsc, "--noEmit"], cwd=app, capture_output=True, text=True, timeout=300)
    assert wrong.returncode != 0 and "stagee" in wrong.stdout, wrong.stdout
    # run it (Node 20 has no global WebSocket: the app's Node entry provides `ws`, as a Node app would)
    (app / "ws-global.mjs").write_text("import WebSocket from 'ws'\nglobalThis.WebSocket ??= WebSocket\n")
    project = tmp_path / "server"
    project.mkdir()
    server = ServerProcess(project, port=readme_port,
                           env=server_env(ADMIN_PASSWORD="Quick-start-42", ADMIN_RESET_PASSWORD="true")).start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATOMO_")}
        run = subprocess.run(["node", "--import", "./ws-global.mjs", "out/app.js"], cwd=app, env=env,
                             capture_output=True, text=True, timeout=120)
    finally:
        server.stop()
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].endswith("open deals") and int(lines[0].split()[0]) >= 1, run.stdout
    assert any(line.startswith("CONFLICT ") for line in lines), run.stdout
