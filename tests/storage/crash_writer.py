"""Child process for the crash test: writes under load and prints each acknowledged id at once (on the SQLite file,
or on the PostgreSQL of a second argument, a DATABASE_URL)."""

from __future__ import annotations

import asyncio
import sys

from atomo import Atomo
from atomo.config import load_settings


async def main(project: str, database_url: str | None) -> None:
    async with Atomo(project, settings=load_settings({}, database_url=database_url)) as app:
        print("ready", flush=True)
        counter = 0

        async def writer(w: int) -> None:
            nonlocal counter
            while True:
                counter += 1
                n = counter
                record = await app.create("Company", {"name": f"w{w}-{n}", "employeeCount": n})
                if n % 3 == 0:
                    record = await app.update("Company", id=record["id"], data={"industry": f"i{n}"})
                sys.stdout.write(f"{record['id']} {record['_version']}\n")
                sys.stdout.flush()
        await asyncio.gather(*(writer(w) for w in range(32)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))   # [project, DATABASE_URL]
