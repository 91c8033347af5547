"""asyncpg through sluice (binary results, every statement prepared): CRUD, one prepared
statement reused, a unique-key violation and the session going on after it, common types,
and masked columns."""

import asyncio
import os
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
import drv  # noqa: E402
import asyncpg  # noqa: E402


def rows(records):
    return drv.rows([tuple(r.values()) for r in records])


async def main():
    c = drv.Config()
    tls = False
    if c.ca:
        tls = ssl.create_default_context(cafile=c.ca)
    conn = await asyncpg.connect(host=c.host, port=c.port, user=c.user, password=c.password,
                                 database=c.database, ssl=tls, timeout=20)
    t = c.table
    out = {}
    await conn.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, note varchar(50))")
    for i, note in [(1, "one"), (2, "zwei ✓"), (3, "three")]:
        await conn.execute(f"INSERT INTO {t} VALUES ($1, $2)", i, note)
    await conn.execute(f"UPDATE {t} SET note = $1 WHERE id = $2", "two", 2)
    await conn.execute(f"DELETE FROM {t} WHERE id = $1", 3)
    out["crud"] = rows(await conn.fetch(f"SELECT id, note FROM {t} ORDER BY id"))
    stmt = await conn.prepare(f"SELECT id, note FROM {t} WHERE id = $1")
    out["prepared"] = [rows(await stmt.fetch(i)) for i in (1, 2, 1)]
    try:
        await conn.execute(f"INSERT INTO {t} VALUES ($1, $2)", 1, "dup")
        out["error"] = None
    except asyncpg.PostgresError as e:
        out["error"] = e.sqlstate
    out["after_error"] = rows(await conn.fetch(f"SELECT count(*) FROM {t}"))
    out["types"] = rows(await conn.fetch(f"SELECT * FROM {c.types} ORDER BY id"))
    people = f"SELECT id, name, email, ssn, salary FROM {c.people}"
    out["masked"] = rows(await conn.fetch(people + " ORDER BY id"))
    stmt = await conn.prepare(people + " WHERE id = $1")
    out["masked_prepared"] = [rows(await stmt.fetch(i)) for i in (1, 2)]
    await conn.execute(f"DROP TABLE {t}")
    await conn.close()
    drv.emit(out)


asyncio.run(main())
