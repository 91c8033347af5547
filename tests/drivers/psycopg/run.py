"""psycopg 3 through sluice: CRUD, a statement prepared on the server and reused, a unique-key
violation and the session going on after it, common types, and masked columns. DRV_MODE is
`text` or `binary` (results in PostgreSQL's binary format)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
import drv  # noqa: E402
import psycopg  # noqa: E402

c = drv.Config()
tls = dict(sslmode="verify-full", sslrootcert=c.ca) if c.ca else dict(sslmode="disable")
conn = psycopg.connect(host=c.host, port=c.port, user=c.user, password=c.password,
                       dbname=c.database, autocommit=True, connect_timeout=20, **tls)
cur = conn.cursor(binary=(c.mode == "binary"))
t = c.table
out = {}


def q(sql, params=None, prepare=None):
    cur.execute(sql, params, prepare=prepare)
    return drv.rows(cur.fetchall()) if cur.description else None


q(f"CREATE TABLE {t} (id int PRIMARY KEY, note varchar(50))")
for i, note in [(1, "one"), (2, "zwei ✓"), (3, "three")]:
    q(f"INSERT INTO {t} VALUES (%s, %s)", (i, note))
q(f"UPDATE {t} SET note = %s WHERE id = %s", ("two", 2))
q(f"DELETE FROM {t} WHERE id = %s", (3,))
out["crud"] = q(f"SELECT id, note FROM {t} ORDER BY id")
out["prepared"] = [q(f"SELECT id, note FROM {t} WHERE id = %s", (i,), prepare=True)
                   for i in (1, 2, 1)]
try:
    q(f"INSERT INTO {t} VALUES (%s, %s)", (1, "dup"))
    out["error"] = None
except psycopg.Error as e:
    out["error"] = e.sqlstate
out["after_error"] = q(f"SELECT count(*) FROM {t}")
out["types"] = q(f"SELECT * FROM {c.types} ORDER BY id")
people = f"SELECT id, name, email, ssn, salary FROM {c.people}"
out["masked"] = q(people + " ORDER BY id")
out["masked_prepared"] = [q(people + " WHERE id = %s", (i,), prepare=True) for i in (1, 2)]
q(f"DROP TABLE {t}")
conn.close()
drv.emit(out)
