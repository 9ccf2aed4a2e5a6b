#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0.
"""A tiny fake Kafka broker that records every frame it sees.

    fakebroker.py --port 0 --port-file P --out DIR --config modern|old [--topic golden]

Listens on 127.0.0.1 only.  Every request frame (bytes after the 4-byte size
prefix, i.e. starting at the request header) is written to
DIR/<NNN>-<ApiName>-v<version>.req.bin and every response frame it sends to
DIR/<NNN>-<ApiName>-v<version>.resp.bin (starting at the response header).
NNN counts requests in arrival order across all connections, from 000.

It is one broker (node id 1, itself) with topics that have one partition,
created on first mention.  It answers ApiVersions, Metadata, Produce (keeps
the record batches, assigns increasing offsets), Fetch (returns them),
ListOffsets, FindCoordinator, JoinGroup/SyncGroup/Heartbeat/LeaveGroup (a
one-member group), OffsetCommit/OffsetFetch, InitProducerId and
OffsetForLeaderEpoch.  Python standard library only.
"""

import argparse
import hashlib
import os
import socket
import struct
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafkaschema as ks  # noqa: E402
import records  # noqa: E402

NODE_ID = 1
CLUSTER_ID = "sluice-golden-cluster"

PRODUCE, FETCH, LIST_OFFSETS, METADATA = 0, 1, 2, 3
OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR = 8, 9, 10
JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP = 11, 12, 13, 14
API_VERSIONS, INIT_PRODUCER_ID, OFFSET_FOR_LEADER_EPOCH = 18, 22, 23

IMPLEMENTED = [PRODUCE, FETCH, LIST_OFFSETS, METADATA, OFFSET_COMMIT, OFFSET_FETCH,
               FIND_COORDINATOR, JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP,
               API_VERSIONS, INIT_PRODUCER_ID, OFFSET_FOR_LEADER_EPOCH]

# "old": the highest non-flexible version of every API (so every request
# header is v1 and every response header v0), with Metadata, Produce and
# Fetch capped lower as in the capture brief.
OLD_CAPS = {METADATA: 5, PRODUCE: 7, FETCH: 11}

# "legacy0100": what an Apache Kafka 0.10.0 broker advertises (for the APIs
# implemented here): Produce/Fetch v2 = magic-1 message sets, ApiVersions v0.
LEGACY_0100 = {PRODUCE: (0, 2), FETCH: (0, 2), LIST_OFFSETS: (0, 0), METADATA: (0, 1),
               OFFSET_COMMIT: (0, 2), OFFSET_FETCH: (0, 1), FIND_COORDINATOR: (0, 0),
               JOIN_GROUP: (0, 0), HEARTBEAT: (0, 0), LEAVE_GROUP: (0, 0), SYNC_GROUP: (0, 0),
               API_VERSIONS: (0, 0)}


def advertised_versions(config):
    if config == "legacy0100":
        return dict(LEGACY_0100)
    out = {}
    for key in IMPLEMENTED:
        name = ks.api_name(key) + "Request"
        # Minimum: the oldest version in message/ + message-legacy/ (like a
        # Kafka 3.x broker).  Kafka 4.x minimums (Produce v3, Fetch v4) make
        # librdkafka 2.0.2 disable its MsgVer1 feature and then silently send
        # gzip/snappy/lz4 batches uncompressed.
        lo, hi = ks.version_range(name)
        if config == "old":
            flex_from = ks.schema(name, hi).flexible[0]
            hi = min(hi, flex_from - 1, OLD_CAPS.get(key, hi))
            if key == API_VERSIONS:
                hi = 2
        out[key] = (lo, hi)
    return out


def topic_id(name):
    # deterministic so captures are reproducible
    h = bytearray(hashlib.md5(("sluice-golden/" + name).encode()).digest())
    h[6] = (h[6] & 0x0F) | 0x40
    h[8] = (h[8] & 0x3F) | 0x80
    return bytes(h)


class Log:
    """One partition: a list of (first_offset, last_offset, raw entry bytes)."""

    def __init__(self):
        self.entries = []
        self.next_offset = 0

    def append(self, blob):
        base = self.next_offset
        if not blob:
            return base
        data = bytearray(blob)
        pos = 0
        while pos + 17 <= len(data):
            size = struct.unpack_from(">i", data, pos + 8)[0]
            end = pos + 12 + size
            if end > len(data):
                break
            magic = data[pos + 16]
            if magic >= 2:
                count = struct.unpack_from(">i", data, pos + 23)[0] + 1
                struct.pack_into(">q", data, pos, self.next_offset)   # baseOffset (not CRC-covered)
                struct.pack_into(">i", data, pos + 12, 0)             # partitionLeaderEpoch
            else:
                attrs = data[pos + 17]
                if attrs & 0x07:
                    # compressed wrapper: its offset is that of the last
                    # inner message; inner offsets stay as the client wrote
                    # them (relative 0..n-1 for magic 1)
                    count = len(records.parse_message_v01(bytes(data[pos:end]))["inner"])
                else:
                    count = 1
                struct.pack_into(">q", data, pos, self.next_offset + count - 1)
            first = self.next_offset
            self.next_offset += count
            self.entries.append((first, self.next_offset - 1, bytes(data[pos:end])))
            pos = end
        return base

    def read(self, offset, max_bytes):
        out = bytearray()
        for first, last, raw in self.entries:
            if last < offset:
                continue
            if out and len(out) + len(raw) > max_bytes:
                break
            out += raw
        return bytes(out)


class Broker:
    def __init__(self, args):
        self.args = args
        self.out = args.out
        self.config = args.config
        self.versions = advertised_versions(args.config)
        self.lock = threading.Condition()
        self.counter = 0
        self.logs = {}            # topic -> Log (partition 0)
        self.groups = {}          # group -> dict
        self.offsets = {}         # (group, topic, partition) -> offset
        self.producer_ids = 1000
        self.member_seq = 0
        self.port = None
        self.ensure_topic(args.topic)
        os.makedirs(self.out, exist_ok=True)
        self.logf = sys.stderr if args.log is None else open(args.log, "w")

    def log(self, msg):
        with self.lock:
            self.logf.write("%.3f %s\n" % (time.time(), msg))
            self.logf.flush()

    def ensure_topic(self, name):
        if name not in self.logs:
            self.logs[name] = Log()
        return self.logs[name]

    def topic_by_id(self, tid):
        for name in self.logs:
            if topic_id(name) == tid:
                return name
        return None

    # ------------------------------------------------------------ plumbing

    def serve(self):
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.args.port))
        srv.listen(16)
        self.port = srv.getsockname()[1]
        if self.args.port_file:
            tmp = self.args.port_file + ".tmp"
            with open(tmp, "w") as fh:
                fh.write("%d\n" % self.port)
            os.rename(tmp, self.args.port_file)
        self.log("listening on 127.0.0.1:%d config=%s versions=%s" % (self.port, self.config, self.versions))
        while True:
            conn, addr = srv.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self.handle_conn, args=(conn, addr), daemon=True).start()

    @staticmethod
    def recv_exact(conn, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def handle_conn(self, conn, addr):
        self.log("connection from %s:%d" % addr)
        try:
            while True:
                size = self.recv_exact(conn, 4)
                if size is None:
                    break
                (n,) = struct.unpack(">i", size)
                frame = self.recv_exact(conn, n)
                if frame is None:
                    break
                resp = self.handle_frame(frame)
                if resp is not None:
                    conn.sendall(struct.pack(">i", len(resp)) + resp)
        except (ConnectionResetError, BrokenPipeError) as e:
            self.log("connection %s:%d: %s" % (addr + (e,)))
        except Exception:
            self.log("connection %s:%d error:\n%s" % (addr + (traceback.format_exc(),)))
        finally:
            self.log("connection from %s:%d closed" % addr)
            conn.close()

    def handle_frame(self, frame):
        api_key, api_version = struct.unpack(">hh", frame[:4])
        with self.lock:
            seq = self.counter
            self.counter += 1
        try:
            name = ks.api_name(api_key)
        except KeyError:
            name = "Api%d" % api_key
        base = os.path.join(self.out, "%03d-%s-v%d" % (seq, name, api_version))
        with open(base + ".req.bin", "wb") as fh:
            fh.write(frame)
        hdr, hv, pos = ks.decode_request_header(frame)
        corr = hdr["CorrelationId"]
        if api_key == API_VERSIONS and api_version > self.versions[API_VERSIONS][1]:
            # Unsupported ApiVersions version: answer with a v0 body, error 35.
            body = self.api_versions_body(0, error=35)
            resp_version = 0
        else:
            if api_key not in IMPLEMENTED:
                self.log("#%03d UNHANDLED api %s v%d; closing" % (seq, name, api_version))
                raise RuntimeError("unhandled api %d" % api_key)
            req, end = ks.decode_body(name + "Request", api_version, frame, pos)
            if end != len(frame):
                self.log("#%03d WARNING %d trailing bytes" % (seq, len(frame) - end))
            self.log("#%03d %s v%d hdr=v%d client=%r corr=%d %s" % (
                seq, name, api_version, hv, hdr.get("ClientId"), corr, short(req)))
            body = getattr(self, "on_" + name)(api_version, req)
            if body is None:
                self.log("#%03d no response (acks=0)" % seq)
                return None
            resp_version = api_version
        rhv = ks.response_header_version(api_key, resp_version if api_key != API_VERSIONS else api_version)
        resp = ks.encode_response_header({"CorrelationId": corr}, rhv) + \
            ks.encode_body(name + "Response", resp_version, body)
        rbase = os.path.join(self.out, "%03d-%s-v%d" % (seq, name, resp_version))
        with open(rbase + ".resp.bin", "wb") as fh:
            fh.write(resp)
        return resp

    # ------------------------------------------------------------ handlers

    # Feature flags in the shape a KRaft broker reports them (values made up
    # but plausible).  They are tagged fields of ApiVersions v3+, the only
    # tagged fields in these captures.
    SUPPORTED_FEATURES = [("group.version", 0, 1), ("kraft.version", 0, 1),
                          ("metadata.version", 7, 25), ("transaction.version", 0, 2)]
    FINALIZED_FEATURES = [("group.version", 1), ("metadata.version", 25), ("transaction.version", 2)]

    def api_versions_body(self, v, error=0):
        body = {
            "ErrorCode": error,
            "ApiKeys": [{"ApiKey": k, "MinVersion": lo, "MaxVersion": hi}
                        for k, (lo, hi) in sorted(self.versions.items())],
            "ThrottleTimeMs": 0,
        }
        if v >= 3 and error == 0:
            # "in v0-v3, features with MinSupportedVersion = 0 are omitted"
            body["SupportedFeatures"] = [{"Name": n, "MinVersion": lo, "MaxVersion": hi}
                                         for n, lo, hi in self.SUPPORTED_FEATURES if v >= 4 or lo > 0]
            body["FinalizedFeaturesEpoch"] = 42
            body["FinalizedFeatures"] = [{"Name": n, "MaxVersionLevel": lvl, "MinVersionLevel": lvl}
                                         for n, lvl in self.FINALIZED_FEATURES]
        return body

    def on_ApiVersions(self, v, req):
        return self.api_versions_body(v)

    def broker_entry(self):
        return {"NodeId": NODE_ID, "Host": "127.0.0.1", "Port": self.port, "Rack": None}

    def metadata_topic(self, name, v):
        return {
            "ErrorCode": 0, "Name": name, "TopicId": topic_id(name), "IsInternal": False,
            "Partitions": [{"ErrorCode": 0, "PartitionIndex": 0, "LeaderId": NODE_ID, "LeaderEpoch": 0,
                            "ReplicaNodes": [NODE_ID], "IsrNodes": [NODE_ID], "OfflineReplicas": []}],
        }

    def on_Metadata(self, v, req):
        topics = req.get("Topics")
        with self.lock:
            if topics is None or (v == 0 and topics == []):
                names = sorted(self.logs)
            else:
                names = []
                for t in topics:
                    name = t.get("Name")
                    if name is None and t.get("TopicId"):
                        name = self.topic_by_id(t["TopicId"])
                    if name is None:
                        continue
                    self.ensure_topic(name)
                    names.append(name)
        return {
            "ThrottleTimeMs": 0,
            "Brokers": [self.broker_entry()],
            "ClusterId": CLUSTER_ID,
            "ControllerId": NODE_ID,
            "Topics": [self.metadata_topic(n, v) for n in names],
        }

    def on_Produce(self, v, req):
        responses = []
        with self.lock:
            for t in req["TopicData"]:
                name = t.get("Name") if v < 13 else self.topic_by_id(t["TopicId"])
                parts = []
                for p in t["PartitionData"]:
                    if name is None or p["Index"] != 0:
                        parts.append({"Index": p["Index"], "ErrorCode": 3, "BaseOffset": -1})
                        continue
                    log = self.ensure_topic(name)
                    base = log.append(p["Records"])
                    parts.append({"Index": p["Index"], "ErrorCode": 0, "BaseOffset": base,
                                  "LogAppendTimeMs": -1, "LogStartOffset": 0})
                r = {"PartitionResponses": parts}
                if v < 13:
                    r["Name"] = t["Name"]
                else:
                    r["TopicId"] = t["TopicId"]
                responses.append(r)
            self.lock.notify_all()
        if req["Acks"] == 0:
            return None
        return {"Responses": responses, "ThrottleTimeMs": 0}

    def fetch_partitions(self, v, req):
        out = []
        total = 0
        for t in req["Topics"]:
            name = t.get("Topic") if v < 13 else self.topic_by_id(t["TopicId"])
            parts = []
            for p in t["Partitions"]:
                log = self.logs.get(name)
                if log is None or p["Partition"] != 0:
                    parts.append({"PartitionIndex": p["Partition"], "ErrorCode": 3 if v < 13 else 100,
                                  "HighWatermark": -1, "LastStableOffset": -1, "LogStartOffset": -1,
                                  "AbortedTransactions": None, "Records": None})
                    continue
                hwm = log.next_offset
                if p["FetchOffset"] > hwm or p["FetchOffset"] < 0:
                    parts.append({"PartitionIndex": 0, "ErrorCode": 1, "HighWatermark": hwm,
                                  "LastStableOffset": hwm, "LogStartOffset": 0,
                                  "AbortedTransactions": None, "Records": None})
                    continue
                recs = log.read(p["FetchOffset"], p["PartitionMaxBytes"])
                total += len(recs)
                parts.append({"PartitionIndex": 0, "ErrorCode": 0, "HighWatermark": hwm,
                              "LastStableOffset": hwm, "LogStartOffset": 0,
                              "AbortedTransactions": None, "PreferredReadReplica": -1,
                              "Records": recs})
            r = {"Partitions": parts}
            if v < 13:
                r["Topic"] = t["Topic"]
            else:
                r["TopicId"] = t["TopicId"]
            out.append(r)
        return out, total

    def on_Fetch(self, v, req):
        deadline = time.time() + min(max(req["MaxWaitMs"], 0), 5000) / 1000.0
        with self.lock:
            while True:
                responses, total = self.fetch_partitions(v, req)
                left = deadline - time.time()
                if total > 0 or total >= req["MinBytes"] or left <= 0:
                    break
                self.lock.wait(left)
        return {"ThrottleTimeMs": 0, "ErrorCode": 0, "SessionId": 0, "Responses": responses}

    def on_ListOffsets(self, v, req):
        topics = []
        with self.lock:
            for t in req["Topics"]:
                log = self.logs.get(t["Name"])
                parts = []
                for p in t["Partitions"]:
                    if log is None or p["PartitionIndex"] != 0:
                        parts.append({"PartitionIndex": p["PartitionIndex"], "ErrorCode": 3,
                                      "OldStyleOffsets": []})
                        continue
                    ts = p["Timestamp"]
                    if ts == -2:
                        off = 0
                    elif ts == -1:
                        off = log.next_offset
                    elif ts == -3:
                        off = max(log.next_offset - 1, 0)
                    else:
                        off = 0 if log.next_offset else -1
                    parts.append({"PartitionIndex": 0, "ErrorCode": 0, "OldStyleOffsets": [off],
                                  "Timestamp": -1, "Offset": off, "LeaderEpoch": 0})
                topics.append({"Name": t["Name"], "Partitions": parts})
        return {"ThrottleTimeMs": 0, "Topics": topics}

    def on_FindCoordinator(self, v, req):
        if v < 4:
            return {"ThrottleTimeMs": 0, "ErrorCode": 0, "ErrorMessage": None,
                    "NodeId": NODE_ID, "Host": "127.0.0.1", "Port": self.port}
        return {"ThrottleTimeMs": 0, "Coordinators": [
            {"Key": k, "NodeId": NODE_ID, "Host": "127.0.0.1", "Port": self.port,
             "ErrorCode": 0, "ErrorMessage": None} for k in req["CoordinatorKeys"]]}

    def on_JoinGroup(self, v, req):
        with self.lock:
            g = self.groups.setdefault(req["GroupId"], {"generation": 0, "assignments": {}})
            member = req["MemberId"]
            if not member:
                self.member_seq += 1
                member = "%s-%d-golden" % (self.args.member_prefix, self.member_seq)
                if v >= 4:
                    return {"ThrottleTimeMs": 0, "ErrorCode": 79, "GenerationId": -1,
                            "ProtocolType": None, "ProtocolName": None if v >= 7 else "",
                            "Leader": "", "MemberId": member, "Members": []}
            g["generation"] += 1
            g["member"] = member
            g["protocol"] = req["Protocols"][0]["Name"]
            g["protocol_type"] = req["ProtocolType"]
            return {"ThrottleTimeMs": 0, "ErrorCode": 0, "GenerationId": g["generation"],
                    "ProtocolType": req["ProtocolType"], "ProtocolName": g["protocol"],
                    "Leader": member, "SkipAssignment": False, "MemberId": member,
                    "Members": [{"MemberId": member, "GroupInstanceId": req.get("GroupInstanceId"),
                                 "Metadata": req["Protocols"][0]["Metadata"]}]}

    def on_SyncGroup(self, v, req):
        with self.lock:
            g = self.groups.setdefault(req["GroupId"], {"generation": 0, "assignments": {}})
            for a in req["Assignments"]:
                g["assignments"][a["MemberId"]] = a["Assignment"]
            return {"ThrottleTimeMs": 0, "ErrorCode": 0,
                    "ProtocolType": g.get("protocol_type"), "ProtocolName": g.get("protocol"),
                    "Assignment": g["assignments"].get(req["MemberId"], b"")}

    def on_Heartbeat(self, v, req):
        return {"ThrottleTimeMs": 0, "ErrorCode": 0}

    def on_LeaveGroup(self, v, req):
        return {"ThrottleTimeMs": 0, "ErrorCode": 0,
                "Members": [{"MemberId": m["MemberId"], "GroupInstanceId": m.get("GroupInstanceId"),
                             "ErrorCode": 0} for m in req.get("Members") or []]}

    def on_OffsetCommit(self, v, req):
        topics = []
        with self.lock:
            for t in req["Topics"]:
                name = t.get("Name") if v < 10 else self.topic_by_id(t["TopicId"])
                parts = []
                for p in t["Partitions"]:
                    self.offsets[(req["GroupId"], name, p["PartitionIndex"])] = \
                        (p["CommittedOffset"], p.get("CommittedLeaderEpoch", -1), p["CommittedMetadata"])
                    parts.append({"PartitionIndex": p["PartitionIndex"], "ErrorCode": 0})
                r = {"Partitions": parts}
                if v < 10:
                    r["Name"] = t["Name"]
                else:
                    r["TopicId"] = t["TopicId"]
                topics.append(r)
        return {"ThrottleTimeMs": 0, "Topics": topics}

    def committed(self, group, name, partition):
        off, epoch, meta = self.offsets.get((group, name, partition), (-1, -1, ""))
        return {"PartitionIndex": partition, "CommittedOffset": off, "CommittedLeaderEpoch": epoch,
                "Metadata": meta, "ErrorCode": 0}

    def offset_fetch_topics(self, group, topics, by_id):
        out = []
        if topics is None:  # all committed offsets of the group
            names = sorted({k[1] for k in self.offsets if k[0] == group})
            topics = [{"Name": n, "PartitionIndexes": sorted(k[2] for k in self.offsets
                                                             if k[0] == group and k[1] == n)}
                      for n in names]
            by_id = False
        for t in topics:
            name = self.topic_by_id(t["TopicId"]) if by_id else t["Name"]
            r = {"Partitions": [self.committed(group, name, p) for p in t["PartitionIndexes"]]}
            if by_id:
                r["TopicId"] = t["TopicId"]
            else:
                r["Name"] = name
            out.append(r)
        return out

    def on_OffsetFetch(self, v, req):
        with self.lock:
            if v < 8:
                return {"ThrottleTimeMs": 0, "ErrorCode": 0,
                        "Topics": self.offset_fetch_topics(req["GroupId"], req["Topics"], False)}
            return {"ThrottleTimeMs": 0, "Groups": [
                {"GroupId": g["GroupId"], "ErrorCode": 0,
                 "Topics": self.offset_fetch_topics(g["GroupId"], g["Topics"], v >= 10)}
                for g in req["Groups"]]}

    def on_InitProducerId(self, v, req):
        with self.lock:
            self.producer_ids += 1
            pid = self.producer_ids
        return {"ThrottleTimeMs": 0, "ErrorCode": 0, "ProducerId": pid, "ProducerEpoch": 0}

    def on_OffsetForLeaderEpoch(self, v, req):
        topics = []
        with self.lock:
            for t in req["Topics"]:
                log = self.logs.get(t["Topic"])
                parts = []
                for p in t["Partitions"]:
                    if log is None or p["Partition"] != 0:
                        parts.append({"ErrorCode": 3, "Partition": p["Partition"]})
                    else:
                        parts.append({"ErrorCode": 0, "Partition": 0, "LeaderEpoch": 0,
                                      "EndOffset": log.next_offset})
                topics.append({"Topic": t["Topic"], "Partitions": parts})
        return {"ThrottleTimeMs": 0, "Topics": topics}


def short(d, limit=300):
    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items() if k != "_tags" or v}
        if isinstance(x, list):
            return [clean(e) for e in x]
        if isinstance(x, (bytes, bytearray)):
            return "<%d bytes>" % len(x)
        return x
    s = repr(clean(d))
    return s if len(s) <= limit else s[:limit] + "..."


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = pick a free one)")
    ap.add_argument("--port-file", help="write the port actually bound here once listening")
    ap.add_argument("--out", required=True, help="capture directory")
    ap.add_argument("--config", choices=["modern", "old", "legacy0100"], default="modern",
                    help="which API versions ApiVersions advertises")
    ap.add_argument("--topic", default="golden", help="topic that exists from the start")
    ap.add_argument("--member-prefix", default="member", help="prefix of generated group member ids")
    ap.add_argument("--log", help="log file (default: stderr)")
    args = ap.parse_args()
    Broker(args).serve()


if __name__ == "__main__":
    main()
