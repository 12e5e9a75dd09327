"""A fault-injecting HTTP proxy between tenantops and a moto server, on loopback only.

Usage: fault_proxy.py UPSTREAM SEED RATE LOG

Listens on a free 127.0.0.1 port (printed as "listening on PORT" on stdout) and
forwards every request to UPSTREAM (moto's endpoint). With probability RATE a request
meets one fault, chosen by a random.Random(SEED), so a run is reproducible up to the
order the client's threads send in:

- throttle:       answered 400 with the service's throttling error, not forwarded
                  (query protocol: <Code>Throttling</Code>; JSON protocol:
                  ThrottlingException), as AWS throttles;
- unavailable:    answered 503, not forwarded;
- reset-before:   the connection is reset before anything is forwarded;
- reset-after:    forwarded (the server acted), then the connection is reset: the
                  answer is lost, as when a network drops between AWS and a runner;
- slow:           forwarded after a 0.3-1.5 s delay.

Each fault is appended to LOG as one line "kind action", so the test can count them.
Bounded: at most MAX_FAULTS faults per proxy (then every request passes), so a test
always ends.
"""
import http.client
import http.server
import random
import socket
import struct
import sys
import threading
import time
import urllib.parse

UPSTREAM, SEED, RATE, LOG = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
MAX_FAULTS = 400
KINDS = ["throttle", "throttle", "unavailable", "reset-before", "reset-after", "slow"]
upstream = urllib.parse.urlparse(UPSTREAM)
rng = random.Random(SEED)
lock = threading.Lock()
faults = 0


def pick():
    global faults
    with lock:
        if faults >= MAX_FAULTS or rng.random() >= RATE:
            return None, 0.0
        faults += 1
        return rng.choice(KINDS), rng.uniform(0.3, 1.5)


def action_of(headers, body):
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    for part in body.split(b"&"):
        if part.startswith(b"Action="):
            return part[7:].decode(errors="replace")
    return "rest"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reset(self):
        # SO_LINGER 0: close with RST, as a dropped connection looks to the client.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def answer(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self, body):
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        hop = ("connection", "transfer-encoding", "content-length", "keep-alive")
        return resp.status, [(k, v) for k, v in resp.getheaders() if k.lower() not in hop], data

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        kind, delay = pick()
        if kind:
            with lock, open(LOG, "a") as log:
                log.write(f"{kind} {action_of(self.headers, body)}\n")
        if kind == "throttle":
            if self.headers.get("X-Amz-Target"):
                self.answer(400, b'{"__type":"ThrottlingException","message":"Rate exceeded"}', "application/x-amz-json-1.1")
            else:
                self.answer(400, b'<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>', "text/xml")
            return
        if kind == "unavailable":
            self.answer(503, b"Service Unavailable", "text/plain")
            return
        if kind == "reset-before":
            self.reset()
            return
        if kind == "slow":
            time.sleep(delay)
        status, headers, data = self.forward(body)
        if kind == "reset-after":
            self.reset()
            return
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(f"listening on {server.server_address[1]}", flush=True)
server.serve_forever()
