"""A webhook receiver for the tests: a real HTTP server on its own port
that verifies every delivery's Standard Webhooks signature and records it.
How it answers is the test's choice (answer(delivery) -> (status, headers,
delay)); by default 204."""
import base64
import hashlib
import hmac
import http.server
import json
import ssl
import threading
import time

from harness import free_port


def verify(secret, headers, body):
    """Whether the webhook-signature header signs id.timestamp.body under
    the whsec_ secret (Standard Webhooks, "v1," signatures)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = (f"{headers['webhook-id']}.{headers['webhook-timestamp']}."
              .encode() + body)
    want = base64.b64encode(hmac.new(key, signed, hashlib.sha256)
                            .digest()).decode()
    return any(hmac.compare_digest(sig.removeprefix("v1,"), want)
               for sig in headers["webhook-signature"].split()
               if sig.startswith("v1,"))


class Delivery:
    def __init__(self, path, headers, body):
        self.path = path
        self.headers = headers
        self.body = body
        self.doc = json.loads(body)
        self.at = time.time()

    @property
    def id(self):
        return self.headers["webhook-id"]


class Receiver:
    def __init__(self, answer=None, port=None, tls=None):
        self.port = port or free_port()
        self.url = (f"{'https' if tls else 'http'}://127.0.0.1:"
                    f"{self.port}/hooks")
        self.answer = answer or (lambda d: (204, {}, 0))
        self.secret = None          # set it to check signatures
        self.deliveries = []
        self.bad_signatures = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hdrs = {k.lower(): v for k, v in self.headers.items()}
                d = Delivery(self.path, hdrs, body)
                if receiver.secret is not None and \
                        not verify(receiver.secret, hdrs, body):
                    receiver.bad_signatures.append(d)
                with receiver.lock:
                    receiver.deliveries.append(d)
                status, extra, delay = receiver.answer(d)
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1",
                                                       self.port), Handler)
        self.server.daemon_threads = True
        if tls:                         # (certificate, key)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket,
                                                 server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def ids(self):
        with self.lock:
            return [d.id for d in self.deliveries]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
