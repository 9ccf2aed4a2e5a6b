"""Security against a real client: confluent-kafka (librdkafka 2.16) on every listener protocol.

Starts one Sluice broker with four listeners configured with Kafka's property names:
PLAINTEXT (the operator's), SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), SSL with
client certificates required (mTLS, key material as PEM strings on the client side, as the
uptime monitor in the seeds hands it over) and SASL_SSL (PLAIN and SCRAM-SHA-512). Certificates
come from openssl at run time. SCRAM users are created through the admin API
(AlterUserScramCredentials), as kafka-configs and confluent-kafka's admin do. Each listener must
produce and consume with the right credentials and refuse the wrong ones with Kafka's errors.
Prints "ok ..."/"FAIL ..." per check and last "security: N passed, M failed".
Usage: security_test.py <sluice binary>
"""

import os
import socket
import ssl as ssl_module
import subprocess
import sys
import tempfile
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

PASSED, FAILED = [], []


def check(name, ok, detail=""):
    (PASSED if ok else FAILED).append(name)
    print(("ok " if ok else "FAIL ") + name + ("" if ok else f": {detail}"), flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1/localhost, a client certificate, and an
    unrelated CA with its own client certificate (which the broker must not trust)."""
    for ca in ("ca", "rogue-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={ca}",
                "-keyout", f"{ca}.key", "-out", f"{ca}.pem", cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    with open(os.path.join(d, "client.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    for name, ca, subj, ext in (
        ("server", "ca", "/CN=localhost/O=Sluice", ["-extfile", "san.ext"]),
        ("client", "ca", "/CN=uptime-monitor/OU=ops/O=Acme", ["-extfile", "client.ext"]),
        ("rogue", "rogue-ca", "/CN=intruder", ["-extfile", "client.ext"]),
    ):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subj, "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
                "-days", "2", "-out", f"{name}.pem", *ext, cwd=d)


def read(path):
    with open(path) as f:
        return f.read()


def start_broker(binary, d, ports):
    plain, sasl, ssl, sasl_ssl = ports
    jaas = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
            'username="admin" password="admin-secret" user_admin="admin-secret" user_portal="portal-secret";')
    props = f"""
node.id=1
log.dirs={d}/data
listeners=PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{sasl},SSL://127.0.0.1:{ssl},EXTERNAL://127.0.0.1:{sasl_ssl}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,EXTERNAL:SASL_SSL
listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config={jaas}
listener.name.external.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512
listener.name.external.plain.sasl.jaas.config={jaas}
ssl.keystore.type=PEM
ssl.keystore.location={d}/server.bundle.pem
ssl.truststore.type=PEM
ssl.truststore.location={d}/ca.pem
listener.name.ssl.ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=(.*?),OU=.*$/$1/,DEFAULT
connection.failed.authentication.delay.ms=50
group.initial.rebalance.delay.ms=0
"""
    with open(os.path.join(d, "server.bundle.pem"), "w") as f:
        f.write(read(os.path.join(d, "server.pem")) + read(os.path.join(d, "server.key")))
    with open(os.path.join(d, "server.properties"), "w") as f:
        f.write(props)
    # A SCRAM user that exists before the first start, as kafka-storage format --add-scram makes it.
    subprocess.run([binary, "format", "-c", os.path.join(d, "server.properties"),
                    "--add-scram", "SCRAM-SHA-512=[name=bootstrap,password=boot-secret]"], check=True, capture_output=True)
    return serve_until_ready(binary, d)


def serve_until_ready(binary, d, env=None):
    """Starts `sluice serve -c d/server.properties`, its output appended to d/broker.log, and waits
    until it reports ready once more than the log already says (a restart on the same dir)."""
    log_path = os.path.join(d, "broker.log")
    ready_before = read(log_path).count("sluice is ready") if os.path.exists(log_path) else 0
    log = open(log_path, "a")
    proc = subprocess.Popen([binary, "serve", "-c", os.path.join(d, "server.properties")], stdout=log, stderr=log,
                            env=env)
    deadline = time.time() + 30
    while time.time() < deadline:
        if read(log_path).count("sluice is ready") > ready_before:
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    print(read(log_path))
    raise SystemExit("broker did not start")


def round_trip(conf, topic, label):
    """Produces three records with acks=all to a topic of its own (auto-created) and reads them
    back; returns an error text or None."""
    topic = f"{topic}-{label}"
    errors = []
    p = Producer({**conf, "acks": "all", "enable.idempotence": True, "message.timeout.ms": 10000})
    for i in range(3):
        p.produce(topic, key=f"k{i}".encode(), value=f"{label}-{i}".encode(),
                  on_delivery=lambda err, msg: err and errors.append(str(err)))
    left = p.flush(15)
    if errors or left:
        return f"produce: {errors or left}"
    c = Consumer({**conf, "group.id": f"g-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got = []
    deadline = time.time() + 20
    while time.time() < deadline and len(got) < 3:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            c.close()
            return f"consume: {m.error()}"
        got.append(m.value().decode())
    c.close()
    want = [f"{label}-{i}" for i in range(3)]
    return None if got == want else f"consumed {got}"


def refused(conf, want_substrings):
    """A client with bad credentials or certificates: metadata fails with the expected error."""
    errors = []
    conf = {**conf, "error_cb": lambda e: errors.append(str(e)), "socket.timeout.ms": 5000}
    a = AdminClient(conf)
    try:
        a.list_topics(timeout=5)
        return "metadata succeeded"
    except KafkaException as e:
        errors.append(str(e))
    a.poll(1)  # error callbacks are served by poll
    text = " | ".join(errors)
    return None if any(w in text for w in want_substrings) else text


def main():
    binary = sys.argv[1]
    d = tempfile.mkdtemp(prefix="sluice-security-")
    make_certs(d)
    ports = [free_port() for _ in range(4)]
    plain, sasl, ssl, sasl_ssl = ports
    proc = start_broker(binary, d, ports)
    try:
        run(d, plain, sasl, ssl, sasl_ssl)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log = read(os.path.join(d, "broker.log"))
        for secret in ("admin-secret", "portal-secret", "scram-pass-256", "scram-pass-512", "wrong-password", "boot-secret"):
            check(f"no credential in the broker log ({secret[:6]}...)", secret not in log)
    acl_suite(binary)
    print(f"security: {len(PASSED)} passed, {len(FAILED)} failed")
    sys.exit(1 if FAILED else 0)


ACL_USERS = {"admin": "admin-pw", "alice": "alice-pw", "bob": "bob-pw", "eve": "eve-pw"}


def start_acl_broker(binary, d, port):
    users = " ".join(f'user_{u}="{p}"' for u, p in ACL_USERS.items())
    props = f"""
node.id=1
log.dirs={d}/data
listeners=SASL_PLAINTEXT://127.0.0.1:{port}
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required {users};
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
"""
    with open(os.path.join(d, "server.properties"), "w") as f:
        f.write(props)
    return serve_until_ready(binary, d)


def as_user(port, user, **extra):
    return {"bootstrap.servers": f"127.0.0.1:{port}", "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
            "sasl.username": user, "sasl.password": ACL_USERS[user], **extra}


def produce_error(conf, topic):
    """Produces one record; returns the delivery error code name, or None on success."""
    result = []
    p = Producer({**conf, "acks": "all", "message.timeout.ms": 8000})
    p.produce(topic, key=b"k", value=b"v", on_delivery=lambda err, msg: result.append(err))
    p.flush(12)
    if not result:
        return "NO_DELIVERY_REPORT"
    return None if result[0] is None else result[0].name()


def consume_error(conf, topic, group):
    """Subscribes in `group` and polls; returns the first error name, or None once a record arrives."""
    c = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    deadline = time.time() + 15
    try:
        while time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            return m.error().name() if m.error() else None
        return "TIMED_OUT"
    finally:
        c.close()


def acl_suite(binary):
    d = tempfile.mkdtemp(prefix="sluice-acl-")
    port = free_port()
    proc = start_acl_broker(binary, d, port)
    try:
        admin = AdminClient(as_user(port, "admin"))
        for f in admin.create_topics([NewTopic(t, 1, 1) for t in ("franc.orders", "franc.secret", "other.topic")]).values():
            f.result(10)
        allow = AclPermissionType.ALLOW
        lit, pre = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
        acls = [
            AclBinding(ResourceType.TOPIC, "franc.", pre, "User:alice", "*", AclOperation.WRITE, allow),
            AclBinding(ResourceType.TOPIC, "franc.secret", lit, "User:alice", "*", AclOperation.WRITE, AclPermissionType.DENY),
            AclBinding(ResourceType.TOPIC, "franc.orders", lit, "User:bob", "*", AclOperation.READ, allow),
            AclBinding(ResourceType.GROUP, "billing", lit, "User:bob", "*", AclOperation.READ, allow),
        ]
        for f in admin.create_acls(acls).values():
            f.result(10)
        described = admin.describe_acls(AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                                         AclOperation.ANY, AclPermissionType.ANY)).result(10)
        check("CreateAcls then DescribeAcls returns the four ACLs", sorted(map(str, described)) == sorted(map(str, acls)),
              described)
        alice = as_user(port, "alice")
        err = produce_error(alice, "franc.orders")
        check("ACL: a principal allowed the prefix franc. produces to franc.orders", err is None, err)
        err = produce_error(alice, "other.topic")
        check("ACL: the same principal is refused on other topics", err == "TOPIC_AUTHORIZATION_FAILED", err)
        err = produce_error(alice, "franc.secret")
        check("ACL: deny beats allow", err == "TOPIC_AUTHORIZATION_FAILED", err)
        err = produce_error(as_user(port, "admin"), "other.topic")
        check("ACL: a super user passes without ACLs", err is None, err)
        err = consume_error(as_user(port, "bob"), "franc.orders", "billing")
        check("ACL: a consumer with topic and group READ consumes", err is None, err)
        err = consume_error(as_user(port, "bob"), "franc.orders", "not-billing")
        check("ACL: a consumer without group READ gets GROUP_AUTHORIZATION_FAILED", err == "GROUP_AUTHORIZATION_FAILED", err)
        eve_topics = set(AdminClient(as_user(port, "eve")).list_topics(timeout=10).topics)
        check("ACL: Metadata hides topics the principal may not describe", not (eve_topics & {"franc.orders", "other.topic"}),
              eve_topics)
        bob_topics = set(AdminClient(as_user(port, "bob")).list_topics(timeout=10).topics)
        check("ACL: Metadata shows the topics the principal may describe (READ implies DESCRIBE)",
              "franc.orders" in bob_topics and "other.topic" not in bob_topics, bob_topics)
        try:
            alice_admin = AdminClient(alice)
            binding = AclBinding(ResourceType.TOPIC, "x", lit, "User:alice", "*", AclOperation.ALL, allow)
            list(alice_admin.create_acls([binding]).values())[0].result(10)
            check("ACL: a non-super user cannot create ACLs", False, "created")
        except KafkaException as e:
            check("ACL: a non-super user cannot create ACLs", "CLUSTER_AUTHORIZATION_FAILED" in str(e), e)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    # ACLs live in the metadata log: they come back after a restart.
    proc = start_acl_broker(binary, d, port)
    try:
        admin = AdminClient(as_user(port, "admin"))
        err = produce_error(as_user(port, "alice"), "other.topic")
        check("ACL: still enforced after a restart", err == "TOPIC_AUTHORIZATION_FAILED", err)
        deleted = list(admin.delete_acls([AclBindingFilter(ResourceType.TOPIC, "franc.", ResourcePatternType.PREFIXED,
                                                           "User:alice", None, AclOperation.ANY, AclPermissionType.ANY)]).values())[0].result(10)
        check("DeleteAcls returns the ACL it removed", len(deleted) == 1 and deleted[0].name == "franc.", deleted)
        err = produce_error(as_user(port, "alice"), "franc.orders")
        check("ACL: removing the allow refuses the principal again", err == "TOPIC_AUTHORIZATION_FAILED", err)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def run(d, plain, sasl, ssl, sasl_ssl):
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{plain}"})
    topic = "secured-events"
    for f in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]).values():
        f.result(10)
    # SCRAM users through the admin API, as kafka-configs --alter --add-config 'SCRAM-SHA-512=[...]'.
    ups = [
        UserScramCredentialUpsertion("gateway", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"scram-pass-512"),
        UserScramCredentialUpsertion("monitor", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), b"scram-pass-256"),
    ]
    for user, f in admin.alter_user_scram_credentials(ups).items():
        try:
            f.result(10)
            check(f"AlterUserScramCredentials {user}", True)
        except Exception as e:  # noqa: BLE001
            check(f"AlterUserScramCredentials {user}", False, e)
    described = admin.describe_user_scram_credentials(["gateway", "monitor"]).result(10) if hasattr(admin.describe_user_scram_credentials(["gateway"]), "result") else None
    if described is None:
        described = {u: f.result(10) for u, f in admin.describe_user_scram_credentials(["gateway", "monitor"]).items()}
    mechs = {u: [(str(i.mechanism), i.iterations) for i in d.scram_credential_infos] for u, d in described.items()}
    check("DescribeUserScramCredentials shows mechanisms and iterations", mechs.get("gateway") == [("ScramMechanism.SCRAM_SHA_512", 4096)]
          and mechs.get("monitor") == [("ScramMechanism.SCRAM_SHA_256", 8192)], mechs)

    sasl_conf = lambda mech, user, pw, port=sasl, proto="SASL_PLAINTEXT", **extra: {  # noqa: E731
        "bootstrap.servers": f"127.0.0.1:{port}", "security.protocol": proto, "sasl.mechanism": mech,
        "sasl.username": user, "sasl.password": pw, **extra}
    for mech, user, pw in (("PLAIN", "portal", "portal-secret"), ("SCRAM-SHA-256", "monitor", "scram-pass-256"),
                           ("SCRAM-SHA-512", "gateway", "scram-pass-512")):
        err = round_trip(sasl_conf(mech, user, pw), topic, mech)
        check(f"SASL_PLAINTEXT {mech}: produce and consume", err is None, err)
        err = refused(sasl_conf(mech, user, "wrong-password"), ["Authentication failed", "SASL authentication error"])
        check(f"SASL_PLAINTEXT {mech}: wrong password refused", err is None, err)
    err = round_trip(sasl_conf("SCRAM-SHA-512", "bootstrap", "boot-secret"), topic, "bootstrap-user")
    check("SASL_PLAINTEXT SCRAM-SHA-512: a user from sluice format --add-scram", err is None, err)
    err = refused(sasl_conf("SCRAM-SHA-512", "nobody", "whatever"), ["Authentication failed", "SASL authentication error"])
    check("SASL_PLAINTEXT SCRAM-SHA-512: unknown user refused", err is None, err)
    err = refused(sasl_conf("SCRAM-SHA-256", "gateway", "scram-pass-512"), ["Authentication failed", "SASL authentication error"])
    check("SASL_PLAINTEXT SCRAM: a user of another mechanism refused", err is None, err)

    ca_pem = read(os.path.join(d, "ca.pem"))
    mtls = {"bootstrap.servers": f"127.0.0.1:{ssl}", "security.protocol": "SSL", "ssl.ca.pem": ca_pem,
            "ssl.certificate.pem": read(os.path.join(d, "client.pem")), "ssl.key.pem": read(os.path.join(d, "client.key"))}
    err = round_trip(mtls, topic, "mtls")
    check("SSL with a client certificate from PEM strings: produce and consume", err is None, err)
    no_cert = {k: v for k, v in mtls.items() if k not in ("ssl.certificate.pem", "ssl.key.pem")}
    err = refused(no_cert, ["SSL handshake failed", "Disconnected", "certificate required", "Broker transport failure"])
    check("SSL: no client certificate where required is refused", err is None, err)
    rogue = {**mtls, "ssl.certificate.pem": read(os.path.join(d, "rogue.pem")), "ssl.key.pem": read(os.path.join(d, "rogue.key"))}
    err = refused(rogue, ["SSL handshake failed", "Disconnected", "Broker transport failure", "unknown ca"])
    check("SSL: a client certificate from an untrusted CA is refused", err is None, err)
    untrusting = {**mtls, "ssl.ca.pem": read(os.path.join(d, "rogue-ca.pem"))}
    err = refused(untrusting, ["SSL handshake failed", "certificate verify failed", "Broker transport failure"])
    check("SSL: a client that does not trust the broker's CA fails", err is None, err)

    for mech, user, pw in (("PLAIN", "portal", "portal-secret"), ("SCRAM-SHA-512", "gateway", "scram-pass-512")):
        conf = sasl_conf(mech, user, pw, port=sasl_ssl, proto="SASL_SSL", **{"ssl.ca.location": os.path.join(d, "ca.pem")})
        err = round_trip(conf, topic, f"sasl-ssl-{mech}")
        check(f"SASL_SSL {mech}: produce and consume", err is None, err)
    err = refused(sasl_conf("SCRAM-SHA-256", "monitor", "scram-pass-256", port=sasl_ssl, proto="SASL_SSL",
                            **{"ssl.ca.location": os.path.join(d, "ca.pem")}), ["Unsupported SASL mechanism", "not supported", "SCRAM-SHA-256"])
    check("SASL_SSL: a mechanism not enabled on the listener is refused", err is None, err)
    err = refused({"bootstrap.servers": f"127.0.0.1:{sasl}"}, ["Disconnected", "Broker transport failure", "timed out", "Timed out"])
    check("SASL_PLAINTEXT: a client without SASL is not served", err is None, err)
    log = read(os.path.join(d, "broker.log"))
    err = refused({"bootstrap.servers": f"127.0.0.1:{plain}", "security.protocol": "SSL", "ssl.ca.location": os.path.join(d, "ca.pem")},
                  ["SSL handshake failed", "Disconnected", "Broker transport failure", "timed out", "Timed out"])
    time.sleep(0.5)
    log = read(os.path.join(d, "broker.log"))
    check("a TLS client on a plaintext port is refused and logged as such", err is None and "TLS handshake arrived" in log, err)
    check_reload(d, sasl_ssl, sasl_conf)


def served_serial(port, ca):
    """The serial number of the certificate the broker presents on `port`."""
    ctx = ssl_module.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.getpeercert()["serialNumber"]


def check_reload(d, port, sasl_conf):
    """Certificate rotation as cert-manager does it: the key store file is replaced on disk; new
    handshakes present the new certificate within the reload interval, and a producer connected
    before keeps working."""
    ca = os.path.join(d, "ca.pem")
    before = served_serial(port, ca)
    conf = sasl_conf("PLAIN", "portal", "portal-secret", port=port, proto="SASL_SSL", **{"ssl.ca.location": ca})
    producer = Producer({**conf, "acks": "all"})
    producer.produce("rotation", value=b"before")
    left_before = producer.flush(15)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost/O=Sluice", "-keyout", "server2.key",
            "-out", "server2.csr", cwd=d)
    openssl("x509", "-req", "-in", "server2.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-out", "server2.pem", "-extfile", "san.ext", cwd=d)
    tmp = os.path.join(d, "server.bundle.pem.new")
    with open(tmp, "w") as f:
        f.write(read(os.path.join(d, "server2.pem")) + read(os.path.join(d, "server2.key")))
    os.replace(tmp, os.path.join(d, "server.bundle.pem"))
    after = before
    deadline = time.time() + 15
    while time.time() < deadline and after == before:
        time.sleep(0.5)
        after = served_serial(port, ca)
    check("TLS: a replaced key store is served to new connections without a restart", after != before, (before, after))
    producer.produce("rotation", value=b"after")
    left_after = producer.flush(15)
    check("TLS: a connection opened before the rotation keeps working", left_before == 0 and left_after == 0,
          (left_before, left_after))


if __name__ == "__main__":
    main()
