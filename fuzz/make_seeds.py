#!/usr/bin/env python3
"""Writes the hand-made seed inputs of every fuzz target into fuzz/corpus/<target>/seed-*.

Seeds are real protocol exchanges and the repository's own SQL and config files, in the input
formats the entry points of `sluice::fuzzing`, `policy::fuzzing`, `masking::fuzzing` and
`audit::fuzzing` read. Run it from anywhere; it only adds or overwrites `seed-*` files.
"""
import os
import re
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def script(parts):
    """(from_upstream, bytes) pairs -> the step encoding of sluice::fuzzing::script."""
    out = bytearray()
    for up, data in parts:
        for i in range(0, max(len(data), 1), 127):
            chunk = data[i:i + 127]
            out.append((len(chunk) << 1) | (1 if up else 0))
            out += chunk
    return bytes(out)


# ---------------------------------------------------------------- PostgreSQL
def pg(tag, body):
    return tag + struct.pack(">I", len(body) + 4) + body


def cstr(s):
    return (s.encode() if isinstance(s, str) else s) + b"\0"


def query(sql):
    return pg(b"Q", cstr(sql))


def row_description(cols):
    body = struct.pack(">h", len(cols))
    for name, table, att, typ in cols:
        body += cstr(name) + struct.pack(">IhIhih", table, att, typ, -1, -1, 0)
    return pg(b"T", body)


def data_row(values):
    body = struct.pack(">h", len(values))
    for v in values:
        body += struct.pack(">i", -1) if v is None else struct.pack(">i", len(v)) + v
    return pg(b"D", body)


def complete(tag):
    return pg(b"C", cstr(tag))


READY = pg(b"Z", b"I")
GREETING = (pg(b"S", cstr("standard_conforming_strings") + cstr("on"))
            + pg(b"S", cstr("client_encoding") + cstr("UTF8")))


def error(code, msg):
    return pg(b"E", b"SERROR\0VERROR\0C" + cstr(code) + b"M" + cstr(msg) + b"\0")


def pg_sessions():
    cols = [("name", 16384, 1, 25), ("ssn", 16384, 2, 25), ("n", 0, 0, 23)]
    rows = data_row([b"Alice", b"123-45-6789", b"1"]) + data_row([b"Bob", None, b"2"])
    simple = script([(True, GREETING), (False, query("SELECT name, ssn, 1 FROM customers")),
                     (True, row_description(cols) + rows + complete("SELECT 2") + READY)])
    put("pg_session", "simple", simple)
    ext = (pg(b"P", cstr("s1") + cstr("SELECT ssn FROM customers WHERE id = $1") + struct.pack(">hI", 1, 23))
           + pg(b"B", cstr("") + cstr("s1") + struct.pack(">hh", 1, 0) + struct.pack(">hi", 1, 1) + b"7"
                + struct.pack(">hh", 1, 1))
           + pg(b"D", b"P\0") + pg(b"E", cstr("") + struct.pack(">i", 0)) + pg(b"S", b""))
    answer = (pg(b"1", b"") + pg(b"2", b"") + row_description([("ssn", 16384, 2, 25)])
              + data_row([b"123-45-6789"]) + complete("SELECT 1") + READY)
    put("pg_session", "extended", script([(False, ext), (True, answer)]))
    put("pg_session", "refused", script([(False, query("DROP TABLE customers")),
                                         (True, error("42703", 'column "sluice_blocked_x_0" does not exist') + READY)]))
    copy = script([(False, query("COPY customers (name, ssn) TO STDOUT")),
                   (True, pg(b"H", b"\0" + struct.pack(">hhh", 2, 0, 0)) + pg(b"d", b"Alice\t123-45-6789\n")
                    + pg(b"c", b"") + complete("COPY 1") + READY)])
    put("pg_session", "copy_out", copy)
    copy_in = script([(False, query("COPY t FROM STDIN")), (True, pg(b"G", b"\0\0\0")),
                      (False, pg(b"d", b"1\tx\n") + pg(b"c", b"")), (True, complete("COPY 1") + READY)])
    put("pg_session", "copy_in", copy_in)
    notices = script([(False, query("LISTEN c; SELECT ssn FROM customers")),
                      (True, pg(b"N", b"SNOTICE\0C00000\0Mhello 123-45-6789\0\0")
                       + pg(b"A", struct.pack(">I", 9) + cstr("c") + cstr("payload"))
                       + error("22P02", 'invalid input syntax for type integer: "123-45-6789"') + READY)])
    put("pg_session", "notices", notices)
    put("pg_session", "function_call", script([(False, pg(b"F", struct.pack(">Ihhhih", 1234, 0, 1, 4, 1, 0)[:14])),
                                               (True, pg(b"V", struct.pack(">i", -1)) + READY)]))
    put("pg_session", "huge_upstream", script([(False, query("SELECT 1")), (True, b"D\x40\x00\x00\x00")]))
    put("pg_session", "huge_client", script([(False, b"Q\x40\x00\x00\x00")]))
    put("pg_session", "terminate", script([(False, pg(b"X", b""))]))
    for i, sql in enumerate(statements("differential.sql")[:40]):
        put("pg_session", f"corpus-{i:03}", script([(False, query(sql)), (True, complete("SELECT 0") + READY)]))


def pg_startup():
    startup = lambda params, code=196608: (lambda b: struct.pack(">I", len(b) + 4) + b)(
        struct.pack(">I", code) + b"".join(cstr(k) + cstr(v) for k, v in params) + b"\0")
    put("pg_startup", "startup", startup([("user", "alice"), ("database", "app"), ("application_name", "psql")]))
    put("pg_startup", "pq_options", startup([("user", "a"), ("_pq_.x", "1")], 196610))
    put("pg_startup", "ssl_then_startup", struct.pack(">II", 8, 80877103) + startup([("user", "a")]))
    put("pg_startup", "gss", struct.pack(">II", 8, 80877104))
    put("pg_startup", "cancel", struct.pack(">IIII", 16, 80877102, 42, 7))
    put("pg_startup", "v2", startup([("user", "a")], 131072))


def scram():
    first = cstr("SCRAM-SHA-256") + struct.pack(">i", 20) + b"n,,n=,r=rOprNGfwEbeRWgbNEkqO"
    final = b"c=biws,r=@NONCE@,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    put("scram_client", "plain", script([(False, first), (False, final)]))
    plus = cstr("SCRAM-SHA-256-PLUS") + struct.pack(">i", 40) + b"p=tls-server-end-point,,n=,r=abcdefgh"
    put("scram_client", "plus", bytes([1]) + script([(False, plus), (False, b"c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=,r=@NONCE@,p=" + b"A" * 43 + b"=")])[1:])


# ---------------------------------------------------------------- MySQL
def my(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def lenenc(b):
    return bytes([len(b)]) + b


def column_def(table, name, typ=253, charset=45):
    return (lenenc(b"def") + lenenc(b"shop") + lenenc(table) + lenenc(table) + lenenc(name) + lenenc(name)
            + b"\x0c" + struct.pack("<HIBHB", charset, 255, typ, 0, 0) + b"\0\0")


EOF_PKT = b"\xfe\0\0\x02\0"
OK = b"\0\0\0\x02\0\0\0"


def mysql_sessions():
    for flags, name in ((0, "eof"), (1, "deprecate_eof")):
        cols = [column_def(b"customers", b"name"), column_def(b"customers", b"ssn")]
        resp = my(1, b"\x02") + b"".join(my(2 + i, c) for i, c in enumerate(cols))
        seq = 4
        if flags == 0:
            resp += my(seq, EOF_PKT)
            seq += 1
        resp += my(seq, lenenc(b"Alice") + lenenc(b"123-45-6789")) + my(seq + 1, b"\xfb" + lenenc(b"x"))
        resp += my(seq + 2, EOF_PKT if flags == 0 else b"\xfe\0\0\x02\0\0\0")
        put("mysql_session", "query_" + name,
            bytes([flags]) + script([(False, my(0, b"\x03SELECT name, ssn FROM customers")), (True, resp)]))
    prep = my(0, b"\x16SELECT ssn FROM customers WHERE id = ?")
    prep_ok = (my(1, b"\0" + struct.pack("<IHHBH", 1, 1, 1, 0, 0)) + my(2, column_def(b"", b"?", 8, 63))
               + my(3, column_def(b"customers", b"ssn")))
    execute = my(0, b"\x17" + struct.pack("<IBI", 1, 0, 1) + b"\0\x01" + b"\x08\0" + struct.pack("<q", 7))
    exec_resp = (my(1, b"\x01") + my(2, column_def(b"customers", b"ssn")) + my(3, b"\0\0" + lenenc(b"123-45-6789"))
                 + my(4, b"\xfe\0\0\x02\0\0\0"))
    put("mysql_session", "prepared",
        b"\x01" + script([(False, prep), (True, prep_ok), (False, execute), (True, exec_resp),
                          (False, my(0, b"\x19" + struct.pack("<I", 1)))]))
    put("mysql_session", "refused", b"\x01" + script([(False, my(0, b"\x03DROP TABLE customers"))]))
    put("mysql_session", "ping_err", b"\x01" + script([(False, my(0, b"\x0e")),
                                                     (True, my(1, b"\xff\x15\x04#28000Access denied 123-45-6789"))]))
    # A command split over physical packets (the fuzzing build splits at 255 bytes).
    long_sql = b"\x03SELECT '" + b"x" * 300 + b"'"
    split = my(0, long_sql[:255]) + my(1, long_sql[255:])
    put("mysql_session", "split_command", b"\x01" + script([(False, split), (True, my(2, OK))]))
    put("mysql_session", "kill", b"\x01" + script([(False, my(0, b"\x03KILL QUERY 7"))]))
    put("mysql_session", "change_user", b"\x01" + script([(False, my(0, b"\x11alice\0\x14" + b"a" * 20 + b"shop\0\x2d\0mysql_native_password\0"))]))
    put("mysql_session", "local_infile", b"\x03" + script([(False, my(0, b"\x03LOAD DATA LOCAL INFILE '/x' INTO TABLE t")),
                                                         (True, my(1, b"\xfb/x")), (False, my(2, b"1,2\n") + my(3, b"")),
                                                         (True, my(4, OK))]))
    put("mysql_session", "huge_upstream", b"\x01" + script([(False, my(0, b"\x03SELECT 1")), (True, b"\xff\xff\xff\x01")]))
    for i, sql in enumerate(statements("mysql_differential.sql")[:40]):
        put("mysql_session", f"corpus-{i:03}", b"\x01" + script([(False, my(0, b"\x03" + sql.encode())), (True, my(1, OK))]))


def mysql_handshake():
    caps = 0x000FA685 | 0x00080000 | 0x00200000 | 0x00100000
    def response(plugin, auth, caps=caps):
        p = struct.pack("<IIB", caps, 1 << 24, 45) + b"\0" * 23 + b"alice\0" + lenenc(auth) + b"shop\0" + cstr(plugin)
        if caps & 0x00100000:
            attrs = lenenc(b"_client_name") + lenenc(b"libmariadb")
            p += lenenc(attrs)
        return p
    put("mysql_handshake", "sha2", my(1, response("caching_sha2_password", b"\x01" * 32)))
    put("mysql_handshake", "native", my(1, response("mysql_native_password", b"\x02" * 20)))
    put("mysql_handshake", "switch", my(1, response("dialog", b"")) + my(3, b"\x03" * 20))
    put("mysql_handshake", "ssl_request", my(1, struct.pack("<IIB", caps | 0x800, 1 << 24, 45) + b"\0" * 23))
    put("mysql_handshake", "out_of_order", my(2, response("mysql_native_password", b"")))


# ---------------------------------------------------------------- policy, masking, config
def statements(name):
    with open(os.path.join(ROOT, "tests", "corpus", name), encoding="utf-8", errors="replace") as f:
        text = f.read()
    text = re.sub(r"^\s*--.*$", "", text, flags=re.M)
    out = [s.strip() for s in text.split(";\n") if s.strip() and not s.strip().startswith("\\")]
    return out


def policy():
    for dialect, name in ((0, "differential.sql"), (1, "mysql_differential.sql")):
        stmts = statements(name)
        for i, sql in enumerate(stmts[:150]):
            put("policy_analyze", f"{dialect}-{i:03}", bytes([dialect]) + sql.encode())
        for i in range(0, min(len(stmts), 120) - 1, 2):
            put("policy_verdicts", f"{dialect}-{i:03}",
                bytes([dialect]) + stmts[i].encode() + b"\xff" + stmts[i + 1].encode())
    extra = ["EXPLAIN ANALYZE DELETE FROM t", "/*!50001 DROP TABLE t */", "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
             "SELECT U&\"\\0073sn\" FROM c", "PREPARE p AS DELETE FROM billing.x", "UPDATE t SET a = 1 WHERE 1 = 1",
             "CREATE FUNCTION f() RETURNS int AS $$ DELETE FROM t $$ LANGUAGE sql", "COPY (SELECT ssn FROM c) TO STDOUT"]
    for i, sql in enumerate(extra):
        put("policy_analyze", f"extra-{i:02}", b"\0" + sql.encode())
        put("policy_verdicts", f"extra-{i:02}", b"\0" + sql.encode() + b"\xffSELECT 1")


def masking():
    values = [b"123-45-6789", b"alice@example.com", b"4111 1111 1111 1111", b"2024-02-29", b"2024-02-29 12:34:56.789+02",
              b"12:34:56", b"-12345.678", b"true", b"{\"ssn\": \"123-45-6789\"}", b"\x00\x00\x00\x2a",
              b"\x40\x09\x21\xfb\x54\x44\x2d\x18", b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "ünïcödé".encode()]
    i = 0
    for f in range(9):
        for wire, ty in ((0, 0), (1, 5), (2, 253), (3, 3), (0, 10), (1, 12), (2, 12), (3, 10), (0, 14), (2, 246)):
            put("mask_value", f"{i:03}", bytes([f, wire, ty, 2, 4]) + values[i % len(values)])
            i += 1


def config():
    for name in ("sluice.example.toml", os.path.join("deploy", "sluice.toml")):
        with open(os.path.join(ROOT, name), "rb") as f:
            put("config_toml", os.path.basename(name), f.read())


def admin():
    """First byte odd: sluice::fuzzing::admin_request adds alice's valid basic credentials."""
    reqs = {
        "healthz": b"\0GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "metrics": b"\0GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        "sessions": b"\1GET /api/sessions?since=2026-01-01T00:00:00Z&user=alice&target=fuzz HTTP/1.1\r\nHost: x\r\n\r\n",
        "events": b"\1GET /api/sessions/1/events HTTP/1.1\r\nHost: x\r\n\r\n",
        "reload": b"\1POST /api/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "approvals": b"\1GET /api/approvals?state=pending HTTP/1.1\r\nHost: x\r\n\r\n",
        "approve": b"\1POST /api/approvals/abc/approve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Content-Length: 17\r\n\r\n{\"reason\":\"fine\"}",
        "deny": b"\1POST /api/approvals/abc/deny HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 15\r\n\r\n{\"reason\":\"no\"}",
        "page": b"\1GET /approvals HTTP/1.1\r\nHost: x\r\nCookie: sluice_csrf=abc\r\n\r\n",
        "bad_basic": b"\0GET /api/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Basic !!!\r\n\r\n",
        "bearer": b"\0GET /api/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer eyJhbGciOiJub25lIn0.e30.\r\n\r\n",
    }
    for name, data in reqs.items():
        put("admin_request", name, data)


pg_sessions()
pg_startup()
scram()
mysql_sessions()
mysql_handshake()
policy()
masking()
config()
admin()
