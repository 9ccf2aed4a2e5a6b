# Licensed under the Apache License, Version 2.0.
"""Shared pieces of the Python client compatibility programs: the records each client
produces (the same plan for every client, so any client can verify what another wrote) and the
checks on what was read back. Standard library only."""
import sys
import time
import traceback

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PARTITIONS = 3
PER_CODEC = 30
BIG = 512 * 1024


class Checker:
    """Prints "ok <name>" / "FAIL <name>: why" per check; exit code 1 if any failed."""

    def __init__(self, client):
        self.client = client
        self.failed = 0

    def ok(self, name):
        print("ok   %s: %s" % (self.client, name), flush=True)

    def fail(self, name, why):
        self.failed += 1
        print("FAIL %s: %s: %s" % (self.client, name, why), flush=True)

    def check(self, name, cond, why=""):
        if cond:
            self.ok(name)
        else:
            self.fail(name, why or "condition false")
        return cond

    def run(self, name, fn, *args):
        """Runs fn: ok, or FAIL with the error (never hidden). Returns fn's result (True for None), or None on error."""
        try:
            res = fn(*args)
            self.ok(name)
            return True if res is None else res
        except Exception as e:  # noqa: BLE001 - every client error is a finding
            self.fail(name, "%s: %s" % (type(e).__name__, e))
            traceback.print_exc(file=sys.stderr)
            return None

    def skip(self, name, why):
        print("skip %s: %s: %s" % (self.client, name, why), flush=True)

    def guard(self, fn):
        """Runs the program's main; an unexpected exception is one more FAIL, not a bare traceback."""
        try:
            fn()
        except SystemExit:
            raise
        except BaseException as e:  # noqa: BLE001
            traceback.print_exc(file=sys.stderr)
            self.fail("unexpected error", "%s: %s" % (type(e).__name__, e))
        self.exit()

    def exit(self):
        sys.exit(1 if self.failed else 0)


def plan(client, codec):
    """The records one client produces in one codec, in send order. Each is a dict with
    partition (int, or None = key-hashed), key (bytes), value (bytes or None), headers
    [(str, bytes)]. Every 3rd record names its partition; the others are key-hashed. The last
    three are a tombstone, an empty value and a 512 KiB value."""
    out = []
    for i in range(PER_CODEC):
        out.append({
            "partition": (i // 3) % PARTITIONS if i % 3 == 0 else None,
            "key": ("%s-%s-%d" % (client, codec, i)).encode(),
            "value": ("value %d of %s in %s " % (i, client, codec) * (1 + i % 5)).encode(),
            "headers": [("client", client.encode()), ("codec", codec.encode()), ("i", str(i).encode())],
        })
    hdr = lambda i: [("client", client.encode()), ("codec", codec.encode()), ("i", str(i).encode())]
    out.append({"partition": 0, "key": ("%s-%s-tombstone" % (client, codec)).encode(), "value": None,
                "headers": hdr(PER_CODEC)})
    out.append({"partition": 1, "key": ("%s-%s-empty" % (client, codec)).encode(), "value": b"",
                "headers": hdr(PER_CODEC + 1)})
    big = bytes((j * 7 + len(codec)) % 251 for j in range(BIG))
    out.append({"partition": None, "key": ("%s-%s-big" % (client, codec)).encode(), "value": big,
                "headers": hdr(PER_CODEC + 2)})
    return out


def full_plan(client, codecs=CODECS):
    return [r for codec in codecs for r in plan(client, codec)]


def verify(chk, label, expected, consumed, t0_ms, t1_ms):
    """consumed: list of dicts partition, offset, key, value, headers [(str, bytes)], ts (ms),
    ts_type ("create"/"append"/other). expected: plan records in send order."""
    by_key = {}
    dup = []
    for m in consumed:
        if m["key"] in by_key:
            dup.append(m["key"])
        by_key[m["key"]] = m
    missing = [r["key"] for r in expected if r["key"] not in by_key]
    exp_keys = {r["key"] for r in expected}
    extra = [k for k in by_key if k not in exp_keys]
    chk.check("%s: every record read back exactly once (%d)" % (label, len(expected)),
              not missing and not dup and not extra,
              "missing %d %r, duplicated %r, unexpected %r" % (len(missing), missing[:5], dup[:5], extra[:5]))
    bad_val, bad_hdr, bad_part, bad_ts, bad_type = [], [], [], [], []
    for r in expected:
        m = by_key.get(r["key"])
        if m is None:
            continue
        if m["value"] != r["value"]:
            bad_val.append((r["key"], None if m["value"] is None else len(m["value"]),
                            None if r["value"] is None else len(r["value"])))
        if [(k, bytes(v) if v is not None else None) for k, v in (m["headers"] or [])] != r["headers"]:
            bad_hdr.append((r["key"], m["headers"]))
        if r["partition"] is not None and m["partition"] != r["partition"]:
            bad_part.append((r["key"], m["partition"], r["partition"]))
        if not 0 <= m["partition"] < PARTITIONS:
            bad_part.append((r["key"], m["partition"], "0..2"))
        if not (t0_ms - 5000 <= m["ts"] <= t1_ms + 5000):
            bad_ts.append((r["key"], m["ts"], t0_ms, t1_ms))
        if m["ts_type"] != "create":
            bad_type.append((r["key"], m["ts_type"]))
    chk.check("%s: values (incl. tombstone, empty, 512 KiB)" % label, not bad_val, "key, got len, want len: %r" % bad_val[:5])
    chk.check("%s: headers" % label, not bad_hdr, repr(bad_hdr[:3]))
    chk.check("%s: explicit partitions honoured" % label, not bad_part, repr(bad_part[:5]))
    chk.check("%s: CreateTime timestamps within the produce window" % label, not bad_ts and not bad_type,
              "ts %r type %r" % (bad_ts[:3], bad_type[:3]))
    # Per partition: offsets strictly increase, and the records sent to it appear in send order.
    order = {r["key"]: n for n, r in enumerate(expected)}
    bad_order = []
    for p in range(PARTITIONS):
        ms = sorted((m for m in consumed if m["partition"] == p and m["key"] in order), key=lambda m: m["offset"])
        seq = [order[m["key"]] for m in ms]
        if seq != sorted(seq):
            bad_order.append((p, "send order", seq[:10]))
    chk.check("%s: per-partition order matches send order" % label, not bad_order, repr(bad_order))
    return by_key


def now_ms():
    return int(time.time() * 1000)
