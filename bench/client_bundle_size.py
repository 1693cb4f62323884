"""Size of the TypeScript client `@atomo-cc/client` as an app ships it: bundled with esbuild (ESM, minified,
React left external, dynamic imports split into chunks loaded on use, as Vite and other bundlers do), then
gzip -9 of the first-load chunk; the chunks loaded on use (the offline queue) are reported apart.

Rows: the whole core entry (`import * from '@atomo-cc/client'`), only `createClient` (what tree shaking keeps
for a typical app), and the React entry on top of it. The issue's goal is 12 KB or less for the core.

Needs node and npm; installs esbuild into bench/client-size (its own lockfile) and builds sdk/client-ts.
Usage: python bench/client_bundle_size.py [--json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SDK = ROOT / "sdk" / "client-ts"
TOOLS = ROOT / "bench" / "client-size"

ENTRIES = {
    "core (everything exported)": "export * from '{sdk}/dist/index.js'\n",
    "createClient only": "import {{ createClient }} from '{sdk}/dist/index.js'\nglobalThis.c = createClient\n",
    "createClient + React hooks": ("import {{ createClient }} from '{sdk}/dist/index.js'\n"
                                   "import * as hooks from '{sdk}/dist/react.js'\nglobalThis.c = [createClient, hooks]\n"),
}


def run(command: list[str], cwd: Path) -> None:
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True, timeout=600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    run(["npm", "ci", "--no-audit", "--no-fund"], TOOLS)
    run(["npm", "install", "--no-audit", "--no-fund"], SDK)
    run(["npm", "run", "build"], SDK)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, source in ENTRIES.items():
            entry = Path(tmp) / "entry.mjs"
            entry.write_text(source.format(sdk=SDK.as_posix()))
            out = Path(tmp) / "out"
            shutil.rmtree(out, ignore_errors=True)
            run([str(TOOLS / "node_modules" / ".bin" / "esbuild"), str(entry), "--bundle", "--minify", "--format=esm",
                 "--splitting", "--platform=browser", "--external:react", "--external:react-dom", f"--outdir={out}"],
                TOOLS)
            first = (out / "entry.js").read_bytes()
            lazy = [p.read_bytes() for p in out.glob("*.js") if p.name != "entry.js"]
            results[name] = {"minified_bytes": len(first), "gzip_bytes": len(gzip.compress(first, 9)),
                             "lazy_gzip_bytes": sum(len(gzip.compress(b, 9)) for b in lazy)}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'bundle (first load)':32} {'minified':>10} {'min+gzip':>10} {'+ loaded on use (gzip)':>24}")
    for name, r in results.items():
        print(f"{name:32} {r['minified_bytes'] / 1024:>8.1f} KB {r['gzip_bytes'] / 1024:>8.1f} KB"
              f" {r['lazy_gzip_bytes'] / 1024:>21.1f} KB")


if __name__ == "__main__":
    main()
