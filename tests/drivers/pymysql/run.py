"""PyMySQL through sluice (text protocol; parameters interpolated by the client): CRUD, one
parameterised statement reused, a duplicate-key error and the session going on after it,
common types, and masked columns."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
import drv  # noqa: E402
import pymysql  # noqa: E402

c = drv.Config()
tls = dict(ssl={"ca": c.ca, "check_hostname": True}) if c.ca else dict(ssl_disabled=True)
conn = pymysql.connect(host=c.host, port=c.port, user=c.user, password=c.password,
                       database=c.database, autocommit=True, connect_timeout=20,
                       charset="utf8mb4", **tls)
cur = conn.cursor()
t = c.table
out = {}


def q(sql, params=None):
    cur.execute(sql, params)
    return drv.rows(cur.fetchall()) if cur.description else None


q(f"CREATE TABLE {t} (id INT PRIMARY KEY, note VARCHAR(50)) CHARSET utf8mb4")
for i, note in [(1, "one"), (2, "zwei ✓"), (3, "three")]:
    q(f"INSERT INTO {t} VALUES (%s, %s)", (i, note))
q(f"UPDATE {t} SET note = %s WHERE id = %s", ("two", 2))
q(f"DELETE FROM {t} WHERE id = %s", (3,))
out["crud"] = q(f"SELECT id, note FROM {t} ORDER BY id")
out["prepared"] = [q(f"SELECT id, note FROM {t} WHERE id = %s", (i,)) for i in (1, 2, 1)]
try:
    q(f"INSERT INTO {t} VALUES (%s, %s)", (1, "dup"))
    out["error"] = None
except pymysql.MySQLError as e:
    out["error"] = e.args[0]
out["after_error"] = q(f"SELECT count(*) FROM {t}")
out["types"] = q(f"SELECT * FROM {c.types} ORDER BY id")
people = f"SELECT id, name, email, ssn, salary FROM {c.people}"
out["masked"] = q(people + " ORDER BY id")
out["masked_prepared"] = [q(people + " WHERE id = %s", (i,)) for i in (1, 2)]
q(f"DROP TABLE {t}")
conn.close()
drv.emit(out)
