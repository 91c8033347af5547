"""mysql-connector-python through sluice: CRUD, a server-side prepared statement
(COM_STMT_PREPARE, binary rows) reused, a duplicate-key error and the session going on after
it, common types, and masked columns, text and prepared."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
import drv  # noqa: E402
import mysql.connector  # noqa: E402

c = drv.Config()
if c.ca:
    tls = dict(ssl_ca=c.ca, ssl_verify_cert=True, ssl_verify_identity=True)
else:
    tls = dict(ssl_disabled=True)
conn = mysql.connector.connect(host=c.host, port=c.port, user=c.user, password=c.password,
                               database=c.database, autocommit=True, connection_timeout=20,
                               charset="utf8mb4", collation="utf8mb4_general_ci", **tls)
cur = conn.cursor()
prep = conn.cursor(prepared=True)
t = c.table
out = {}


def q(sql, params=None, cursor=cur):
    cursor.execute(sql, params)
    return drv.rows(cursor.fetchall()) if cursor.description else None


q(f"CREATE TABLE {t} (id INT PRIMARY KEY, note VARCHAR(50)) CHARSET utf8mb4")
for i, note in [(1, "one"), (2, "zwei ✓"), (3, "three")]:
    q(f"INSERT INTO {t} VALUES (%s, %s)", (i, note), prep)
q(f"UPDATE {t} SET note = %s WHERE id = %s", ("two", 2), prep)
q(f"DELETE FROM {t} WHERE id = %s", (3,), prep)
out["crud"] = q(f"SELECT id, note FROM {t} ORDER BY id")
out["prepared"] = [q(f"SELECT id, note FROM {t} WHERE id = %s", (i,), prep) for i in (1, 2, 1)]
try:
    q(f"INSERT INTO {t} VALUES (%s, %s)", (1, "dup"))
    out["error"] = None
except mysql.connector.Error as e:
    out["error"] = e.errno
out["after_error"] = q(f"SELECT count(*) FROM {t}")
out["types"] = q(f"SELECT * FROM {c.types} ORDER BY id")
people = f"SELECT id, name, email, ssn, salary FROM {c.people}"
out["masked"] = q(people + " ORDER BY id")
out["masked_prepared"] = [q(people + " WHERE id = %s", (i,), prep) for i in (1, 2)]
q(f"DROP TABLE {t}")
conn.close()
drv.emit(out)
