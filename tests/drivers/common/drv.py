"""What every Python client of the driver matrix shares: its settings, read from the
environment the Rust test sets, and one way to print what it read (as JSON, the same way for a
direct connection and one through sluice, so the test can compare them)."""

import datetime
import decimal
import json
import os
import sys
import uuid


class Config:
    def __init__(self):
        env = os.environ
        self.host = "127.0.0.1"
        self.port = int(env["DRV_PORT"])
        self.user = env["DRV_USER"]
        self.password = env["DRV_PASSWORD"]
        self.database = env["DRV_DATABASE"]
        # A CA file: connect over TLS and verify the server's certificate with it.
        self.ca = env.get("DRV_CA") or None
        self.table = env["DRV_TABLE"]
        self.mode = env.get("DRV_MODE", "")
        self.types = env["DRV_TYPES"]
        self.people = env["DRV_PEOPLE"]


def plain(value):
    """A JSON-able form of what a driver returned, keeping what tells values apart."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, decimal.Decimal):
        return "decimal:" + str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return type(value).__name__ + ":" + value.isoformat()
    if isinstance(value, datetime.timedelta):
        return "timedelta:" + str(value)
    if isinstance(value, uuid.UUID):
        return "uuid:" + str(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return type(value).__name__ + ":" + str(value)


def rows(rs):
    return [plain(list(r)) for r in rs]


def emit(out):
    json.dump(out, sys.stdout, sort_keys=True, ensure_ascii=True)
    sys.stdout.write("\n")
