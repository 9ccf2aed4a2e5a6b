"""The operator's session kafka_tools.sh runs against Apache Kafka and Sluice, and the comparison.

`session.py steps WORK` writes the steps (one tab-separated line each, for ToolRunner.java) and
the input files they read into WORK. `session.py compare WORK` compares each step's exit code and
normalised output between WORK/kafka/out and WORK/sluice/out, prints "ok <step>" or
"FAIL <step>: ..." per step (also into WORK/compare.log), and exits non-zero on a failure.
"""

import difflib
import json
import re
import sys
from pathlib import Path

TOOLS = "org.apache.kafka.tools."
TOPICS = TOOLS + "TopicCommand"
CONFIGS = "kafka.admin.ConfigCommand"
GROUPS = TOOLS + "consumer.group.ConsumerGroupCommand"
OFFSETS = TOOLS + "GetOffsetShell"

# What differs between any two clusters and is not an answer: host:port, ids, times.
COMMON = [
    (r"127\.0\.0\.1:\d+", "HOST:PORT"),
    (r"/127\.0\.0\.1", "/HOST"),
    (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "UUID"),
    (r"(TopicId|ClusterId|directoryId)(\"?:\s*\"?)[A-Za-z0-9_-]{22}", r"\1\2ID"),
    (r"\b1[6-9]\d{11}\b", "TIMESTAMP"),
    (r"/[^\s\"]*/(kafka|sluice)/data\b", "DATA_DIR"),
]
# Kafka 4 formats a new cluster with eligible leader replicas, which sets a cluster-wide
# min.insync.replicas=1; Sluice (one replica, no ELR) has no such entry. DEFAULT_CONFIG synonyms
# are Sluice's fuller answer to includeSynonyms; Kafka's broker leaves them out here.
CONFIG_LISTS = [
    (r"(?m)min\.insync\.replicas=1(,|$)", ""),
    (r"(?m)^\s*min\.insync\.replicas=1 sensitive=false synonyms=\{DYNAMIC_DEFAULT_BROKER_CONFIG:[^}]*\}\n?", ""),
    (r", DEFAULT_CONFIG:[^,}]*", ""),
]
# Steps whose output is measurements: only the shape is compared.
NUMBERS = [(r"\d+(\.\d+)?", "N")]


class Step:
    """One tool run: label, stdin text (or None), tool class, arguments, extra normalisation."""

    def __init__(self, label, tool, args, stdin=None, norm=(), compare="output"):
        self.label, self.tool, self.args, self.stdin = label, tool, args, stdin
        self.norm, self.compare = list(norm), compare


def session():
    b = ["--bootstrap-server", "@B@"]
    topics = lambda *a: [TOPICS] + b + list(a)
    configs = lambda *a: [CONFIGS] + b + list(a)
    groups = lambda *a: [GROUPS] + b + list(a)
    s = []

    def add(label, argv, **kw):
        s.append(Step(label, argv[0], argv[1:], **kw))

    # kafka-topics
    add("topics-create", topics("--create", "--topic", "t1", "--partitions", "3", "--replication-factor", "1",
                                "--config", "retention.ms=3600000", "--config", "cleanup.policy=delete"))
    add("topics-create-again", topics("--create", "--topic", "t1", "--partitions", "1"),
        norm=[(r"(?s)\tat .*", "")])
    add("topics-create-c1", topics("--create", "--topic", "c1", "--partitions", "1"))
    add("topics-list", topics("--list"))
    add("topics-describe", topics("--describe", "--topic", "t1"))
    add("topics-alter", topics("--alter", "--topic", "t1", "--partitions", "4"))
    add("topics-describe-altered", topics("--describe", "--topic", "t1"))
    add("topics-describe-all", topics("--describe", "--exclude-internal"))
    add("topics-describe-missing", topics("--describe", "--topic", "nope"), norm=[(r"(?s)\tat .*", "")])
    # kafka-configs: topics, brokers, defaults, users (SCRAM and quotas), clients, groups
    add("configs-topic-alter", configs("--entity-type", "topics", "--entity-name", "t1", "--alter",
                                       "--add-config", "max.message.bytes=200000,retention.ms=7200000"))
    add("configs-topic-describe", configs("--entity-type", "topics", "--entity-name", "t1", "--describe"))
    add("configs-topic-delete", configs("--entity-type", "topics", "--entity-name", "t1", "--alter",
                                        "--delete-config", "max.message.bytes"))
    add("configs-topic-describe-after", configs("--entity-type", "topics", "--entity-name", "t1", "--describe"))
    add("configs-broker-default-alter", configs("--entity-type", "brokers", "--entity-default", "--alter",
                                                "--add-config", "log.retention.ms=604800000"))
    add("configs-broker-default-describe", configs("--entity-type", "brokers", "--entity-default", "--describe"))
    add("configs-broker-alter", configs("--entity-type", "brokers", "--entity-name", "1", "--alter",
                                        "--add-config", "log.retention.ms=500000000"))
    add("configs-broker-describe", configs("--entity-type", "brokers", "--entity-name", "1", "--describe"))
    add("configs-user-scram", configs("--entity-type", "users", "--entity-name", "alice", "--alter",
                                      "--add-config", "SCRAM-SHA-256=[iterations=8192,password=alice-secret]"))
    add("configs-user-describe", configs("--entity-type", "users", "--entity-name", "alice", "--describe"))
    add("configs-user-quota", configs("--entity-type", "users", "--entity-name", "alice", "--alter",
                                      "--add-config", "producer_byte_rate=1048576"))
    add("configs-user-quota-describe", configs("--entity-type", "users", "--entity-name", "alice", "--describe"))
    add("configs-client-quota", configs("--entity-type", "clients", "--entity-name", "app1", "--alter",
                                        "--add-config", "consumer_byte_rate=2097152"))
    add("configs-client-describe", configs("--entity-type", "clients", "--entity-name", "app1", "--describe"))
    add("configs-group-alter", configs("--entity-type", "groups", "--entity-name", "g2", "--alter",
                                       "--add-config", "consumer.session.timeout.ms=50000"))
    add("configs-group-describe", configs("--entity-type", "groups", "--entity-name", "g2", "--describe"))
    add("configs-group-describe-all", configs("--entity-type", "groups", "--entity-name", "g2", "--describe",
                                              "--all"), norm=[(r"(?m)^\s*(share|streams)\..*\n?", "")])
    add("configs-groups-describe-every", configs("--entity-type", "groups", "--describe"))
    add("configs-client-metrics-describe-every", configs("--entity-type", "client-metrics", "--describe"))
    add("configs-group-alter-out-of-bounds", configs("--entity-type", "groups", "--entity-name", "g2", "--alter",
                                                     "--add-config", "consumer.heartbeat.interval.ms=1"),
        norm=[(r"(?s)\tat .*", "")])
    # The console producer and consumer, keys and headers, one partition so the order is fixed.
    records = "h1:a,h2:b\tk1\tv1\nh1:c\tk2\tv2\nh3:\tk3\tv3\n"
    add("console-produce", [TOOLS + "ConsoleProducer"] + b + [
        "--topic", "c1", "--property", "parse.key=true", "--property", "parse.headers=true"], stdin=records)
    add("console-consume", [TOOLS + "consumer.ConsoleConsumer"] + b + [
        "--topic", "c1", "--from-beginning", "--max-messages", "3", "--timeout-ms", "20000", "--group", "g1",
        "--property", "print.key=true", "--property", "print.headers=true", "--property", "print.partition=true",
        "--property", "print.offset=true"], norm=[(r"Processed a total of \d+ messages", "Processed")])
    # A KIP-848 consumer (group.protocol=consumer) in its own group.
    add("console-consume-848", [TOOLS + "consumer.ConsoleConsumer"] + b + [
        "--topic", "c1", "--from-beginning", "--max-messages", "3", "--timeout-ms", "20000", "--group", "g848",
        "--consumer-property", "group.protocol=consumer", "--property", "print.key=true"],
        norm=[(r"Processed a total of \d+ messages", "Processed")])
    add("groups-describe-848", groups("--describe", "--group", "g848"))
    # kafka-consumer-groups
    add("groups-list", groups("--list"))
    add("groups-describe", groups("--describe", "--group", "g1"))
    add("configs-groups-describe-with-live-groups", configs("--entity-type", "groups", "--describe"))
    add("groups-describe-state", groups("--describe", "--group", "g1", "--state"),
        norm=[(r"\s+", " ")])
    add("groups-reset-dry-run", groups("--group", "g1", "--reset-offsets", "--to-earliest", "--topic", "c1",
                                       "--dry-run"))
    add("groups-reset", groups("--group", "g1", "--reset-offsets", "--to-offset", "1", "--topic", "c1",
                               "--execute"))
    add("groups-describe-reset", groups("--describe", "--group", "g1"))
    add("groups-delete-offsets", groups("--group", "g1", "--delete-offsets", "--topic", "c1"))
    add("groups-delete", groups("--delete", "--group", "g1"))
    add("groups-delete-missing", groups("--delete", "--group", "g1"), norm=[(r"(?s)\tat .*", "")])
    # kafka-get-offsets in every mode
    for label, extra in [("latest", []), ("earliest", ["--time", "-2"]), ("max-timestamp", ["--time", "-3"]),
                         ("by-partition", ["--topic-partitions", "c1:0,t1:1-2"]),
                         ("all-topics", ["--exclude-internal-topics"])]:
        # The console producer's timestamps differ between the two runs, so the offset of the
        # largest one in c1 may too: max-timestamp asks t1, whose partitions are empty.
        topic = {"latest": ["--topic", "c1"], "earliest": ["--topic", "c1"],
                 "max-timestamp": ["--topic", "t1"]}.get(label, [])
        add("get-offsets-" + label, [OFFSETS] + b + topic + extra)
    # kafka-delete-records, kafka-log-dirs
    add("delete-records", [TOOLS + "DeleteRecordsCommand"] + b + ["--offset-json-file", "@W@/../../delete.json"])
    add("get-offsets-after-delete", [OFFSETS] + b + ["--topic", "c1", "--time", "-2"])
    add("log-dirs", [TOOLS + "LogDirsCommand"] + b + ["--describe", "--topic-list", "c1"], compare="log-dirs")
    # perf tests, small counts
    add("perf-produce", [TOOLS + "ProducerPerformance", "--topic", "perf", "--num-records", "500",
                         "--record-size", "100", "--throughput", "-1", "--producer-props", "bootstrap.servers=@B@",
                         "acks=all"], norm=NUMBERS)
    add("perf-consume", [TOOLS + "ConsumerPerformance"] + b + ["--topic", "perf", "--messages", "500",
                                                               "--timeout", "20000"],
        norm=[(r"(?m)^\d{4}-.*$", "ROW")])
    # verifiable producer and consumer
    add("verifiable-produce", [TOOLS + "VerifiableProducer"] + b + ["--topic", "vp", "--max-messages", "5"],
        compare="verifiable")
    add("verifiable-consume", [TOOLS + "VerifiableConsumer"] + b + ["--topic", "vp", "--group-id", "vg",
                                                                    "--max-messages", "5", "--reset-policy",
                                                                    "earliest"], compare="verifiable")
    # features, quorum, elections, reassignments, client metrics, producers
    add("features", [TOOLS + "FeatureCommand"] + b + ["describe"], compare="features")
    add("quorum-status", [TOOLS + "MetadataQuorumCommand"] + b + ["describe", "--status"], compare="quorum")
    add("quorum-replication", [TOOLS + "MetadataQuorumCommand"] + b + ["describe", "--replication"],
        compare="quorum")
    add("election-all", [TOOLS + "LeaderElectionCommand"] + b + ["--election-type", "preferred",
                                                                 "--all-topic-partitions"])
    add("election-one", [TOOLS + "LeaderElectionCommand"] + b + ["--election-type", "unclean", "--topic", "t1",
                                                                 "--partition", "0"],
        norm=[(r"(?s)\tat .*", "")])
    add("election-unknown", [TOOLS + "LeaderElectionCommand"] + b + ["--election-type", "preferred", "--topic",
                                                                     "nope", "--partition", "0"],
        norm=[(r"(?s)\tat .*", "")])
    add("reassign-execute", [TOOLS + "reassign.ReassignPartitionsCommand"] + b + [
        "--execute", "--reassignment-json-file", "@W@/../../reassign.json"])
    add("reassign-verify", [TOOLS + "reassign.ReassignPartitionsCommand"] + b + [
        "--verify", "--reassignment-json-file", "@W@/../../reassign.json"])
    add("reassign-to-unknown-broker", [TOOLS + "reassign.ReassignPartitionsCommand"] + b + [
        "--execute", "--reassignment-json-file", "@W@/../../reassign-bad.json"], norm=[(r"(?s)\tat .*", "")])
    add("reassign-list", [TOOLS + "reassign.ReassignPartitionsCommand"] + b + ["--list"])
    metrics = TOOLS + "ClientMetricsCommand"
    add("client-metrics-alter", [metrics] + b + ["--alter", "--name", "cm1", "--metrics",
                                                 "org.apache.kafka.producer.", "--interval", "60000",
                                                 "--match", "client_software_name=kafka-python"])
    add("client-metrics-bad-interval", [metrics] + b + ["--alter", "--name", "cm2", "--interval", "5"],
        norm=[(r"(?s)\tat .*", "")])
    add("client-metrics-describe", [metrics] + b + ["--describe", "--name", "cm1"])
    add("client-metrics-list", [metrics] + b + ["--list"])
    add("client-metrics-delete", [metrics] + b + ["--delete", "--name", "cm1"])
    add("describe-producers", [TOOLS + "TransactionsCommand"] + b + ["describe-producers", "--topic", "perf",
                                                                    "--partition", "0"],
        norm=[(r"(?m)^(\d+)\s+(\d+)\s+(\d+)\s+(-?\d+)\s+(-?\d+)\s+(\S+)\s*$", r"PID \2 \3 \4 \5 \6"),
              (r"\s+", " ")])
    # The admin client retries UNKNOWN_TOPIC_OR_PARTITION until its timeout: keep that short.
    add("describe-producers-unknown", [TOOLS + "TransactionsCommand"] + b + [
        "--command-config", "@W@/../../short-timeout.properties", "describe-producers", "--topic", "perf",
        "--partition", "9"],
        norm=[(r"(?s)\tat .*", ""), (r"tries=\d+", "tries=N"), (r"after \d+ attempt", "after N attempt")])
    add("get-offsets-missing-topic", [OFFSETS] + b + ["--topic", "nope"], norm=[(r"(?s)\tat .*", "")])
    # kafka-topics delete last
    add("topics-delete", topics("--delete", "--topic", "t1"))
    add("topics-list-after-delete", topics("--list"))
    return s


def write_steps(work):
    move = lambda broker: json.dumps({"version": 1, "partitions": [{"topic": "c1", "partition": 0,
                                                                   "replicas": [broker], "log_dirs": ["any"]}]})
    (work / "reassign.json").write_text(move(1))
    (work / "short-timeout.properties").write_text("default.api.timeout.ms=5000\nrequest.timeout.ms=3000\n")
    (work / "reassign-bad.json").write_text(move(2))
    (work / "delete.json").write_text(json.dumps(
        {"partitions": [{"topic": "c1", "partition": 0, "offset": 1}], "version": 1}))
    for step in session():
        stdin = "-"
        if step.stdin is not None:
            stdin = str(work / (step.label + ".in"))
            Path(stdin).write_text(step.stdin)
        print("\t".join([step.label, stdin, step.tool] + step.args))


def read(work, broker, step):
    out = work / broker / "out"
    text = lambda ext: (out / (step.label + ext)).read_text() if (out / (step.label + ext)).exists() else ""
    return text(".rc").strip() or "missing", text(".out"), text(".err")


def normalise(text, rules):
    for pattern, repl in COMMON + CONFIG_LISTS + rules:
        text = re.sub(pattern, repl, text)
    return text.strip()


def verifiable_events(text):
    """The verifiable tools print JSON events: the names of the producer's or the consumer's
    own events, and how many records were sent or consumed. (The producer's callbacks may print
    after its step ended, into the next step's output, so each step counts only its own kind.)"""
    names, sent, consumed = set(), 0, 0
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        name = event.get("name")
        if name == "producer_send_success":
            sent += 1
        elif name == "records_consumed":
            consumed += event.get("count", 0)
        elif name in ("startup_complete", "partitions_assigned", "offsets_committed"):
            names.add(name)
    return sorted(names), sent, consumed


def features(text):
    """kafka-features describe: the feature names and finalized levels of the features both
    enable; metadata.version's range is Sluice's one level."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"Feature: (\S+)\s+SupportedMinVersion: (\S+)\s+SupportedMaxVersion: (\S+)\s+"
                     r"FinalizedVersionLevel: (\S+)", line)
        if m:
            rows[m.group(1)] = m.group(4)
    return rows


def compare_step(work, step):
    (krc, kout, kerr), (src, sout, serr) = read(work, "kafka", step), read(work, "sluice", step)
    if krc != src:
        return f"exit code kafka={krc} sluice={src}; sluice stderr: {serr.strip()[-300:]}"
    if step.compare == "verifiable":
        produced = step.label.endswith("produce")
        if produced:
            # VerifiableProducer's main returns while its sends complete on the producer's
            # thread: their events land in the next step's output.
            after = Step("verifiable-consume", "", [])
            kout, sout = kout + read(work, "kafka", after)[1], sout + read(work, "sluice", after)[1]
        (kn, ks, kc), (sn, ss, sc) = verifiable_events(kout), verifiable_events(sout)
        same = (ks == ss == 5) if produced else (kn == sn and kc == sc == 5)
        return None if same else f"events kafka={kn} sent={ks} consumed={kc}; sluice={sn} sent={ss} consumed={sc}"
    if step.compare == "log-dirs":
        k, s = [re.sub(r'"(path|logDir)":"[^"]*"|"size":\d+|"offsetLag":\d+', "", x) for x in (kout, sout)]
        return None if normalise(k, []) == normalise(s, []) else diff(normalise(k, []), normalise(s, []))
    if step.compare == "features":
        k, s = features(kout), features(sout)
        for name in ("group.version", "metadata.version", "kraft.version"):
            if name not in s:
                return f"sluice does not list {name}: {sout.strip()}"
        if s["group.version"] != k.get("group.version"):
            return f"group.version kafka={k.get('group.version')} sluice={s['group.version']}"
        return None
    if step.compare == "quorum":
        rules = [(r"\"directoryId\": \"ID\", ", ""), (r"\d+ ms ago", "T ms ago"), (r"\"[A-Z_]+://HOST:PORT\"", "ENDPOINT"),
                 (r"(LeaderEpoch|HighWatermark|LogEndOffset):?\s+\d+", r"\1 N"),
                 (r"(?m)^(\d+)\s+\S+\s+(\d+)\s+(\d+)", r"\1 ID N \3"), (r"[ \t]+", " ")]
        k, s = normalise(kout, rules), normalise(sout, rules)
        return None if k == s else diff(k, s)
    k, s = normalise(kout, step.norm), normalise(sout, step.norm)
    if k != s:
        return diff(k, s)
    # A failing tool: the same first line and the same first exception (type and message).
    first_error = lambda t: [l for l in t.splitlines()[:1]] + [l for l in t.splitlines() if "Exception" in l][:1]
    ke, se = first_error(normalise(kerr, step.norm)), first_error(normalise(serr, step.norm))
    if krc != "0" and ke != se:
        return "stderr " + diff("\n".join(ke), "\n".join(se))
    return None


def diff(k, s):
    lines = difflib.unified_diff(k.splitlines(), s.splitlines(), "kafka", "sluice", lineterm="", n=0)
    return " | ".join(list(lines)[2:14])


def compare(work):
    log = []
    for step in session():
        problem = compare_step(work, step)
        log.append(f"ok {step.label}" if problem is None else f"FAIL {step.label}: {problem}")
        print(log[-1], flush=True)
    (work / "compare.log").write_text("\n".join(log) + "\n")
    return 1 if any(line.startswith("FAIL") for line in log) else 0


if __name__ == "__main__":
    mode, work = sys.argv[1], Path(sys.argv[2])
    if mode == "steps":
        write_steps(work)
    else:
        sys.exit(compare(work))
