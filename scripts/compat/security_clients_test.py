"""Each seed's security setup with the seed's own client, against a started Sluice broker.

security_test.py covers every listener protocol with confluent-kafka; this suite covers the
clients and settings the seeds actually use:

1. confluent-kafka OAUTHBEARER with sasl.oauthbearer.method=oidc (client credentials) against a
   token endpoint this script serves on 127.0.0.1. It issues RS256 JWTs signed (with openssl) by a
   key generated here; the broker validates them against the matching JWKS, from a file: URL on
   one listener and from this script's http: server on another. The endpoint checks the client id
   and secret. Refusals: wrong audience, wrong issuer, a token signed by another key (the endpoint
   hands those out and the client must fail with the broker's SASL authentication error), an
   expired token (from the endpoint: refused by librdkafka itself or the broker; and through
   oauth_cb, which lets the client claim a later lifetime, so that only the broker can refuse it),
   and a wrong client secret.
2. kafka-python (the portal) with SASL_SSL PLAIN and ssl_cafile/ssl_certfile/ssl_keyfile files.
3. kafkajs with SCRAM-SHA-512 over SASL_PLAINTEXT and over SASL_SSL (kafkajs_security.js).
4. IBM/sarama (the gateway plugin) with SCRAM-SHA-512 through xdg-go/scram, snappy,
   RequiredAcks=WaitForAll and a consumer group with manual commits, resumed by a new process
   (sarama/, built here with `go build`), over SASL_PLAINTEXT and SASL_SSL.
5. kcat (Debian's, librdkafka 2.0) over SSL with a client certificate (mTLS), from files.
And no password, client secret or token in the broker's log.

Certificates come from openssl at run time (security_test.make_certs). Listeners use Kafka's
property names. Prints "ok ..."/"FAIL ..." per check and last
"security-clients: N passed, M failed"; exits 1 if a check failed.
Usage: security_clients_test.py <sluice binary>
"""

import base64
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from confluent_kafka import Consumer, KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import (AdminClient, NewTopic, ScramCredentialInfo, ScramMechanism,  # noqa: E402
                                   UserScramCredentialUpsertion)

from security_test import free_port, make_certs, read, serve_until_ready  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PASSED, FAILED = [], []
VALIDATOR = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
AUDIENCE = "sluice-cluster"
ISSUER = "https://idp.acme.test/realms/events"
CLIENT_ID = "gateway-svc"
CLIENT_SECRET = "oidc-client-secret-7f3a9c"
SECRETS = ["admin-secret", "portal-secret", "scram-pass-512", "wrong-password", CLIENT_SECRET, "not-the-secret"]
TOKENS = []  # every token handed out, checked against the broker log at the end


def check(name, ok, detail=""):
    (PASSED if ok else FAILED).append(name)
    print(("ok " if ok else "FAIL ") + name + ("" if ok else f": {detail}"), flush=True)


# --- JWTs signed with openssl ----------------------------------------------------------------

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def make_keys(d):
    for k in ("idp", "other-idp"):
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", os.path.join(d, f"{k}.key")], check=True, capture_output=True)
    mod = subprocess.run(["openssl", "rsa", "-in", os.path.join(d, "idp.key"), "-noout", "-modulus"],
                         check=True, capture_output=True, text=True).stdout.strip().split("=", 1)[1]
    jwks = {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "idp-1",
                      "n": b64u(bytes.fromhex(mod)), "e": b64u((65537).to_bytes(3, "big"))}]}
    with open(os.path.join(d, "jwks.json"), "w") as f:
        json.dump(jwks, f)
    return jwks


def jwt(key, claims, kid="idp-1"):
    head = b64u(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}).encode())
    body = b64u(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=f"{head}.{body}".encode(),
                         check=True, capture_output=True).stdout
    token = f"{head}.{body}.{b64u(sig)}"
    TOKENS.append(token)
    return token


def claims(**over):
    now = int(time.time())
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": CLIENT_ID, "iat": now, "exp": now + 600, "scope": "kafka",
         "jti": str(uuid.uuid4())}
    c.update(over)
    return c


# --- the identity provider: token endpoint and JWKS over http ---------------------------------

class Idp:
    def __init__(self, d, jwks):
        self.d, self.jwks, self.mode, self.requests = d, jwks, "good", []
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                idp.requests.append(("GET", self.path, None, None))
                if self.path == "/jwks.json":
                    self.reply(200, idp.jwks)
                else:
                    self.reply(404, {"error": "not_found"})

            def do_POST(self):  # noqa: N802
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
                auth = self.headers.get("Authorization", "")
                cid = secret = None
                if auth.startswith("Basic "):
                    cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                else:
                    cid, secret = form.get("client_id", [None])[0], form.get("client_secret", [None])[0]
                idp.requests.append(("POST", self.path, cid, form))
                if self.path != "/token":
                    return self.reply(404, {"error": "not_found"})
                if form.get("grant_type") != ["client_credentials"]:
                    return self.reply(400, {"error": "unsupported_grant_type"})
                if cid != CLIENT_ID or secret != CLIENT_SECRET:
                    return self.reply(401, {"error": "invalid_client"})
                self.reply(200, {"access_token": idp.token(), "token_type": "Bearer", "expires_in": 600})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self):
        key = os.path.join(self.d, "idp.key")
        now = int(time.time())
        if self.mode == "expired":
            return jwt(key, claims(iat=now - 900, exp=now - 300))
        if self.mode == "audience":
            return jwt(key, claims(aud="some-other-service"))
        if self.mode == "issuer":
            return jwt(key, claims(iss="https://evil.example/realms/events"))
        if self.mode == "badsig":
            return jwt(os.path.join(self.d, "other-idp.key"), claims())
        return jwt(key, claims())


# --- the broker --------------------------------------------------------------------------------

def start_broker(binary, d, ports, idp_port):
    plain, sasl, oauth_http, ssl, sasl_ssl = ports
    jaas = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
            'username="admin" password="admin-secret" user_admin="admin-secret" user_portal="portal-secret";')
    jwks_file = f"file://{d}/jwks.json"
    jwks_http = f"http://127.0.0.1:{idp_port}/jwks.json"
    props = f"""
node.id=1
log.dirs={d}/data
listeners=PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{sasl},OAUTHHTTP://127.0.0.1:{oauth_http},SSL://127.0.0.1:{ssl},EXTERNAL://127.0.0.1:{sasl_ssl}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,OAUTHHTTP:SASL_PLAINTEXT,SSL:SSL,EXTERNAL:SASL_SSL
listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512,OAUTHBEARER
listener.name.sasl_plaintext.plain.sasl.jaas.config={jaas}
listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class={VALIDATOR}
listener.name.sasl_plaintext.oauthbearer.sasl.oauthbearer.jwks.endpoint.url={jwks_file}
listener.name.oauthhttp.sasl.enabled.mechanisms=OAUTHBEARER
listener.name.oauthhttp.oauthbearer.sasl.server.callback.handler.class={VALIDATOR}
listener.name.oauthhttp.oauthbearer.sasl.oauthbearer.jwks.endpoint.url={jwks_http}
sasl.oauthbearer.expected.audience={AUDIENCE}
sasl.oauthbearer.expected.issuer={ISSUER}
org.apache.kafka.sasl.oauthbearer.allowed.urls={jwks_file},{jwks_http}
listener.name.external.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512
listener.name.external.plain.sasl.jaas.config={jaas}
listener.name.external.ssl.client.auth=requested
ssl.keystore.type=PEM
ssl.keystore.location={d}/server.bundle.pem
ssl.truststore.type=PEM
ssl.truststore.location={d}/ca.pem
listener.name.ssl.ssl.client.auth=required
connection.failed.authentication.delay.ms=50
group.initial.rebalance.delay.ms=0
"""
    with open(os.path.join(d, "server.bundle.pem"), "w") as f:
        f.write(read(os.path.join(d, "server.pem")) + read(os.path.join(d, "server.key")))
    with open(os.path.join(d, "server.properties"), "w") as f:
        f.write(props)
    env = {**os.environ, "SLUICE_LOG": os.environ.get("SLUICE_LOG", "info")}
    return serve_until_ready(binary, d, env)


# --- confluent-kafka helpers ---------------------------------------------------------------------

def round_trip(conf, topic, n=5):
    """Produces n keyed records with acks=all and reads them back in a fresh group; returns an
    error text or None."""
    errors = []
    p = Producer({**conf, "acks": "all", "message.timeout.ms": 15000})
    for i in range(n):
        p.produce(topic, key=f"k{i}".encode(), value=f"{topic}-{i}".encode(),
                  on_delivery=lambda err, msg: err and errors.append(str(err)))
    left = p.flush(20)
    if errors or left:
        return f"produce: {errors or left}"
    c = Consumer({**conf, "group.id": f"g-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got = []
    deadline = time.time() + 20
    while time.time() < deadline and len(got) < n:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            c.close()
            return f"consume: {m.error()}"
        got.append(m.value().decode())
    c.close()
    want = [f"{topic}-{i}" for i in range(n)]
    return None if sorted(got) == want else f"consumed {got}"


def refusal(conf, wanted=("SASL authentication error",), seconds=8):
    """Connects with conf and returns every error text the client reported, as soon as one
    contains a wanted text (empty if metadata succeeded)."""
    errors = []
    a = AdminClient({**conf, "error_cb": lambda e: errors.append(str(e)), "socket.timeout.ms": 5000,
                     "log_level": 2})
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            a.list_topics(timeout=0.5)
            return []
        except KafkaException as e:
            errors.append(str(e))
        a.poll(0.1)  # error callbacks are served by poll
        if any(w in e for e in errors for w in wanted):
            break
    return errors


BROKER_REFUSED = "SASL authentication error"


def run_oauth(d, sasl, oauth_http, idp):
    oidc = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER",
            "sasl.oauthbearer.method": "oidc", "sasl.oauthbearer.client.id": CLIENT_ID,
            "sasl.oauthbearer.client.secret": CLIENT_SECRET, "sasl.oauthbearer.scope": "kafka",
            "sasl.oauthbearer.token.endpoint.url": f"http://127.0.0.1:{idp.port}/token"}
    for label, port in (("JWKS from a file: URL", sasl), ("JWKS over http:", oauth_http)):
        idp.mode = "good"
        before = len(idp.requests)
        err = round_trip({**oidc, "bootstrap.servers": f"127.0.0.1:{port}"}, f"oidc-{port}")
        check(f"confluent-kafka OAUTHBEARER oidc ({label}): produce and consume", err is None, err)
        posts = [r for r in idp.requests[before:] if r[0] == "POST"]
        check(f"confluent-kafka OAUTHBEARER oidc ({label}): token fetched with client credentials",
              bool(posts) and all(r[2] == CLIENT_ID and r[3].get("grant_type") == ["client_credentials"]
                                  and r[3].get("scope") == ["kafka"] for r in posts), posts)
    check("broker fetched the JWKS from the http: endpoint",
          any(r[0] == "GET" and r[1] == "/jwks.json" for r in idp.requests), idp.requests)

    for mode, what in (("audience", "a token for another audience"), ("issuer", "a token from another issuer"),
                       ("badsig", "a token signed by another key")):
        for label, port in (("file", sasl), ("http", oauth_http)):
            idp.mode = mode
            errs = refusal({**oidc, "bootstrap.servers": f"127.0.0.1:{port}"})
            check(f"confluent-kafka OAUTHBEARER oidc ({label} JWKS): {what} is refused by the broker",
                  any(BROKER_REFUSED in e for e in errs), errs or "metadata succeeded")
    idp.mode = "expired"
    errs = refusal({**oidc, "bootstrap.servers": f"127.0.0.1:{sasl}"}, (BROKER_REFUSED, "OAUTHBEARER token", "expired"))
    check("confluent-kafka OAUTHBEARER oidc: an expired token fails authentication",
          any(BROKER_REFUSED in e or "OAUTHBEARER token" in e or "expired" in e for e in errs), errs or "metadata succeeded")
    print(f"    (expired token from oidc refused by {'the broker' if any(BROKER_REFUSED in e for e in errs) else 'librdkafka'}:"
          f" {errs[-1][:200] if errs else ''})", flush=True)
    # librdkafka refuses an expired token from oidc itself; with oauth_cb the application states
    # the lifetime, so a token whose exp claim has passed reaches the broker, which must refuse it.
    now = int(time.time())
    stale = jwt(os.path.join(d, "idp.key"), claims(iat=now - 900, exp=now - 300))
    errs = refusal({"bootstrap.servers": f"127.0.0.1:{sasl}", "security.protocol": "SASL_PLAINTEXT",
                    "sasl.mechanism": "OAUTHBEARER", "oauth_cb": lambda _cfg: (stale, time.time() + 300)})
    check("confluent-kafka OAUTHBEARER oauth_cb: a token past its exp claim is refused by the broker",
          any(BROKER_REFUSED in e for e in errs), errs or "metadata succeeded")
    idp.mode = "good"
    fresh = jwt(os.path.join(d, "idp.key"), claims())
    err = round_trip({"bootstrap.servers": f"127.0.0.1:{sasl}", "security.protocol": "SASL_PLAINTEXT",
                      "sasl.mechanism": "OAUTHBEARER", "oauth_cb": lambda _cfg: (fresh, time.time() + 300, CLIENT_ID)},
                     "oauth-cb")
    check("confluent-kafka OAUTHBEARER oauth_cb: a valid token produces and consumes", err is None, err)
    before = len(idp.requests)
    errs = refusal({**oidc, "bootstrap.servers": f"127.0.0.1:{sasl}", "sasl.oauthbearer.client.secret": "not-the-secret"},
                   ("OAUTHBEARER token", "401"))
    check("confluent-kafka OAUTHBEARER oidc: a wrong client secret gets no token",
          any("OAUTHBEARER token" in e or "401" in e for e in errs)
          and any(r[0] == "POST" for r in idp.requests[before:]), errs or "metadata succeeded")


# --- kafka-python: SASL_SSL PLAIN with certificate files (the portal) --------------------------

def run_kafka_python(d, sasl_ssl, admin):
    from kafka import KafkaConsumer, KafkaProducer
    topic = "portal-events"
    for f in admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)]).values():
        f.result(10)
    common = dict(bootstrap_servers=f"127.0.0.1:{sasl_ssl}", api_version=(2, 5, 0), security_protocol="SASL_SSL",
                  sasl_mechanism="PLAIN", sasl_plain_username="portal", sasl_plain_password="portal-secret",
                  ssl_cafile=os.path.join(d, "ca.pem"), ssl_certfile=os.path.join(d, "client.pem"),
                  ssl_keyfile=os.path.join(d, "client.key"))
    events = [(f"user-{i % 3}", {"event": "page_view", "seq": i}) for i in range(15)]
    try:
        p = KafkaProducer(**common, acks="all", key_serializer=str.encode,
                          value_serializer=lambda v: json.dumps(v).encode())
        futures = [p.send(topic, key=k, value=v) for k, v in events]
        p.flush(20)
        metas = [f.get(timeout=10) for f in futures]
        p.close(5)
        check("kafka-python SASL_SSL PLAIN: produce keyed events (acks=all)", len(metas) == len(events))
    except Exception as e:  # noqa: BLE001
        check("kafka-python SASL_SSL PLAIN: produce keyed events (acks=all)", False, repr(e))
        return
    got = []
    try:
        c = KafkaConsumer(topic, **common, group_id="portal-readers", auto_offset_reset="earliest",
                          enable_auto_commit=False, consumer_timeout_ms=15000,
                          key_deserializer=bytes.decode, value_deserializer=json.loads)
        for m in c:
            got.append((m.key, m.value))
            if len(got) >= len(events):
                break
        c.commit()
        committed = sum(c.committed(tp) or 0 for tp in c.assignment())
        c.close()
        check("kafka-python SASL_SSL PLAIN: keyed events read back in a group",
              sorted(got, key=lambda kv: kv[1]["seq"]) == events, got)
        by_key = {k: [v["seq"] for kk, v in got if kk == k] for k in {k for k, _ in events}}
        check("kafka-python SASL_SSL PLAIN: per-key order kept",
              all(s == sorted(s) for s in by_key.values()), by_key)
        check("kafka-python SASL_SSL PLAIN: offsets committed", committed == len(events), committed)
    except Exception as e:  # noqa: BLE001
        check("kafka-python SASL_SSL PLAIN: keyed events read back in a group", False, f"{e!r}; got {got}")
    # kafka-python 3 retries a refused bootstrap until max_block_ms and raises KafkaTimeoutError;
    # the SASL error itself (SaslAuthenticationFailedError) is only logged, so the log is read too.
    seen = []

    class Grab(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    grab = Grab(logging.ERROR)
    logging.getLogger("kafka").addHandler(grab)
    try:
        p = KafkaProducer(**{**common, "sasl_plain_password": "wrong-password"}, max_block_ms=4000)
        parts = p.partitions_for(topic)
        p.close(1)
        check("kafka-python SASL_SSL PLAIN: wrong password refused", False, f"metadata: {parts}")
    except Exception as e:  # noqa: BLE001
        # The broker always answers SaslAuthenticate with error 58 before it closes (checked with a
        # raw socket), but kafka-python 3.0 sometimes handles the close first and logs only
        # "socket disconnected"; then the broker's log line for this listener is the evidence.
        auth = [m for m in seen if "SaslAuthenticationFailedError" in m or "Authentication failed" in m]
        broker = [ln for ln in read(os.path.join(d, "broker.log")).splitlines()
                  if "listener=EXTERNAL" in ln and "Invalid username or password" in ln]
        check("kafka-python SASL_SSL PLAIN: wrong password refused (SASL_AUTHENTICATION_FAILED)",
              type(e).__name__ == "KafkaTimeoutError" and (auth or broker), f"{e!r}; logged {seen[-3:]}")
    finally:
        logging.getLogger("kafka").removeHandler(grab)


# --- subprocess clients ------------------------------------------------------------------------

def run_tool(name, cmd, timeout, cwd=None, env=None):
    """Runs a client program that prints ok/FAIL lines; counts them, and a crash or timeout."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        for line in out.splitlines():
            if line.startswith(("ok ", "FAIL ")):
                check(line.split(" ", 1)[1].split(": ")[0], line.startswith("ok "), line)
        check(f"{name}: finished", False, f"timed out after {timeout} s")
        return
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith(("ok ", "FAIL "))]
    for line in lines:
        if line.startswith("ok "):
            check(line[3:], True)
        else:
            name_, _, detail = line[5:].partition(": ")
            check(name_, False, detail)
    if r.returncode != 0 and not any(ln.startswith("FAIL ") for ln in lines):
        check(f"{name}: exits cleanly", False, f"exit {r.returncode}: {r.stderr[-1500:]}")


def run_kafkajs(d, sasl, sasl_ssl):
    if not os.path.isdir(os.path.join(HERE, "node_modules", "kafkajs")):
        check("kafkajs installed (scripts/compat/run.sh runs npm ci)", False, "no node_modules/kafkajs")
        return
    script = os.path.join(HERE, "kafkajs_security.js")
    run_tool("kafkajs SASL_PLAINTEXT", ["node", script, f"127.0.0.1:{sasl}", "gateway", "scram-pass-512", "sasl-plaintext"], 90)
    run_tool("kafkajs SASL_SSL", ["node", script, f"127.0.0.1:{sasl_ssl}", "gateway", "scram-pass-512", "sasl-ssl",
                                  os.path.join(d, "ca.pem")], 90)


def run_sarama(d, sasl, sasl_ssl):
    binary = os.path.join(d, "sarama-compat")
    env = {**os.environ, "GOFLAGS": "-mod=mod"}
    try:
        r = subprocess.run(["go", "build", "-o", binary, "."], cwd=os.path.join(HERE, "sarama"), env=env,
                           capture_output=True, text=True, timeout=400)
        ok = r.returncode == 0
        check("sarama: go build", ok, r.stderr[-1500:])
    except (OSError, subprocess.TimeoutExpired) as e:
        check("sarama: go build", False, repr(e))
        ok = False
    if not ok:
        return
    for label, port, extra in (("sarama SASL_PLAINTEXT", sasl, []),
                               ("sarama SASL_SSL", sasl_ssl, ["-ca", os.path.join(d, "ca.pem")])):
        tag = label.split()[1].lower()
        args = ["-brokers", f"127.0.0.1:{port}", "-user", "gateway", "-password", "scram-pass-512", "-label", label,
                "-topic", f"gateway-{tag}", "-group", f"gateway-plugin-{tag}", "-state", os.path.join(d, f"sarama-{tag}.json"),
                *extra]
        for mode in ("produce", "consume1", "consume2", "refused"):
            t = time.time()
            run_tool(f"{label} {mode}", [binary, mode, *args], 60)
            print(f"    ({label} {mode}: {time.time() - t:.1f} s)", flush=True)


def run_kcat(d, ssl):
    base = ["kcat", "-b", f"127.0.0.1:{ssl}", "-X", "security.protocol=SSL", "-X", f"ssl.ca.location={d}/ca.pem",
            "-X", f"ssl.certificate.location={d}/client.pem", "-X", f"ssl.key.location={d}/client.key"]
    topic = "kcat-mtls"
    lines = [f"host-{i}:probe {i} up" for i in range(8)]
    try:
        r = subprocess.run([*base, "-P", "-t", topic, "-K:", "-X", "request.required.acks=-1"],
                           input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=30)
        check("kcat SSL mTLS: produce keyed records", r.returncode == 0, r.stderr[-800:])
        r = subprocess.run([*base, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%k:%s\n"],
                           capture_output=True, text=True, timeout=30)
        check("kcat SSL mTLS: consume them back", r.returncode == 0 and sorted(r.stdout.split("\n")[:-1]) == sorted(lines),
              f"exit {r.returncode}, out {r.stdout!r}, err {r.stderr[-500:]}")
        r = subprocess.run([*base, "-C", "-G", "kcat-mtls-group", topic, "-o", "beginning", "-c", str(len(lines)),
                            "-f", "%k:%s\n"], capture_output=True, text=True, timeout=40)
        check("kcat SSL mTLS: consume in a group (balanced consumer)",
              r.returncode == 0 and sorted(r.stdout.split("\n")[:-1]) == sorted(lines),
              f"exit {r.returncode}, out {r.stdout!r}, err {r.stderr[-500:]}")
        r = subprocess.run([*base[:-4], "-L", "-m", "5"], capture_output=True, text=True, timeout=30)
        time.sleep(0.3)
        logged = "listener=SSL error=peer sent no certificates" in read(os.path.join(d, "broker.log"))
        check("kcat SSL: no client certificate is refused (broker: peer sent no certificates)",
              r.returncode != 0 and logged, f"exit {r.returncode}, logged {logged}, {r.stdout[-300:]}")
    except (OSError, subprocess.TimeoutExpired) as e:
        check("kcat SSL mTLS", False, repr(e))


def main():
    binary = sys.argv[1]
    d = tempfile.mkdtemp(prefix="sluice-security-clients-")
    make_certs(d)
    jwks = make_keys(d)
    idp = Idp(d, jwks)
    ports = [free_port() for _ in range(5)]
    plain, sasl, oauth_http, ssl, sasl_ssl = ports
    proc = start_broker(binary, d, ports, idp.port)
    only = set(sys.argv[2:])  # optional subset: oauth kafka-python kafkajs sarama kcat
    try:
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{plain}"})
        ups = [UserScramCredentialUpsertion("gateway", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                                            b"scram-pass-512")]
        for user, f in admin.alter_user_scram_credentials(ups).items():
            f.result(10)
        steps = [("oauth", lambda: run_oauth(d, sasl, oauth_http, idp)),
                 ("kafka-python", lambda: run_kafka_python(d, sasl_ssl, admin)),
                 ("kafkajs", lambda: run_kafkajs(d, sasl, sasl_ssl)),
                 ("sarama", lambda: run_sarama(d, sasl, sasl_ssl)),
                 ("kcat", lambda: run_kcat(d, ssl))]
        for name, step in steps:
            if only and name not in only:
                continue
            print(f"--- {name}", flush=True)
            t = time.time()
            try:
                step()
            except Exception as e:  # noqa: BLE001
                check(f"{name}: ran to the end", False, repr(e))
            print(f"    ({name}: {time.time() - t:.1f} s)", flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        idp.server.shutdown()
        log = read(os.path.join(d, "broker.log"))
        leaked = [s[:6] + "..." for s in SECRETS if s in log]
        check("no password or client secret in the broker log", not leaked, leaked)
        leaked = [t[:12] + "..." for t in TOKENS if t in log or t.rsplit(".", 1)[1] in log]
        check(f"no token (of {len(TOKENS)} issued) in the broker log", not leaked, leaked)
        if FAILED:
            print("--- broker WARN/ERROR lines")
            for line in log.splitlines():
                if " WARN " in line or " ERROR " in line:
                    print("   ", line[:400])
    if not FAILED and not os.environ.get("KEEP_SECURITY_DIR"):
        shutil.rmtree(d, ignore_errors=True)
    else:
        print(f"(certificates, keys and the broker log are in {d})")
    print(f"security-clients: {len(PASSED)} passed, {len(FAILED)} failed")
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
