"""Server-sent events read off raw sockets, for the tests and the benchmark
of GET /slots/stream: the answer's head, then its body (chunked, or
delimited by the close) cut into events as the bytes come."""
import selectors
import socket
import time


class Stream:
    """One GET /slots/stream (or any path) on a connection of its own."""

    def __init__(self, port, query, headers=(), version="1.1", method="GET",
                 path="/slots/stream", timeout=10, rcvbuf=None, extra=b""):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        lines = [f"{method} {path}?{query} HTTP/{version}"]
        if version == "1.1":
            lines.append("Host: t")
        lines += [f"{k}: {v}" for k, v in headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + extra)
        self.raw = b""          # received, not yet decoded
        self.body = b""         # decoded, not yet cut into events
        self.fields = {}        # of the event being read
        self.queue = []         # events and comments, not yet taken
        self.last_chunk = False  # the chunk that ends the body came
        self.eof = False
        self.status, self.headers = self._head()
        self.chunked = self.headers.get("transfer-encoding") == "chunked"
        self._decode()

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.sock.close()

    def _recv(self):
        data = self.sock.recv(1 << 16)
        if not data:
            self.eof = True
            return False
        self.raw += data
        return True

    def _head(self):
        while b"\r\n\r\n" not in self.raw:
            if not self._recv():
                raise EOFError("closed before the head")
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1.1 "), lines[0]
        hdrs = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            assert k.lower() not in hdrs, f"{k} twice"
            hdrs[k.lower()] = v.strip()
        return int(lines[0].split(" ")[1]), hdrs

    def _decode(self):
        if not self.chunked:
            self.body, self.raw = self.body + self.raw, b""
        while self.chunked and b"\r\n" in self.raw:
            size_line, rest = self.raw.split(b"\r\n", 1)
            size = int(size_line, 16)
            if len(rest) < size + 2:
                break
            assert rest[size:size + 2] == b"\r\n", rest[:size + 2]
            assert not self.last_chunk, "bytes after the last chunk"
            self.last_chunk = size == 0
            self.body, self.raw = self.body + rest[:size], rest[size + 2:]
        while b"\n" in self.body:
            line, self.body = self.body.split(b"\n", 1)
            text = line.decode("utf-8")
            if text == "":
                if self.fields:
                    self.queue.append(self.fields)
                self.fields = {}
            elif text.startswith(":"):
                self.queue.append({":": text[1:]})
            else:
                k, _, v = text.partition(":")
                self.fields[k] = v[1:] if v.startswith(" ") else v

    def feed(self):
        """Take what the socket has (waiting for something); False at the
        end of the connection."""
        if not self._recv():
            return False
        self._decode()
        return True

    def next(self, timeout=5.0, comments=False):
        """The next event (a dict of its fields), or comment ({":": text})
        when comments is true; EOFError if the connection ends first."""
        deadline = time.monotonic() + timeout
        while True:
            while self.queue:
                item = self.queue.pop(0)
                if comments or ":" not in item:
                    return item
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no event")
            self.sock.settimeout(left)
            if not self.feed():
                raise EOFError("the stream ended")

    def ends(self, timeout=5.0):
        """Read to the end of the connection; True when the server closed
        it cleanly (EOF, not a reset)."""
        self.sock.settimeout(timeout)
        try:
            while self.feed():
                pass
        except ConnectionResetError:
            return False
        return True


def wait_all(streams, done, timeout=10.0):
    """Read the streams side by side until done(stream) is true for each
    (done sees its stream's queue); returns when each became so, by
    stream, in seconds since the call (monotonic)."""
    t0 = time.monotonic()
    sel = selectors.DefaultSelector()
    when = {}
    for s in streams:
        if done(s):
            when[s] = 0.0
        else:
            sel.register(s.sock, selectors.EVENT_READ, s)
    deadline = t0 + timeout
    while len(when) < len(streams):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for key, _ in sel.select(min(left, 0.5)):
            s = key.data
            if not s.feed():
                sel.unregister(s.sock)
                continue
            if done(s):
                when[s] = time.monotonic() - t0
                sel.unregister(s.sock)
    sel.close()
    return when
