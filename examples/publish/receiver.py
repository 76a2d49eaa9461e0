#!/usr/bin/env python3
"""A tiny deploy endpoint for the publish example (Python 3 standard library only).

Listens on 127.0.0.1 only and stores the body of each PUT (or POST) to /site/PATH as
DIR/PATH, after checking its Content-Length and, when sent, its Content-Digest
(RFC 9530, sha-256). Answers 201 for a new file, 204 for a replaced one, 400 for a bad
path or digest, 401 for a missing or wrong bearer token (when RECEIVER_TOKEN is set),
411 without Content-Length, 413 for a body over --max-bytes. With --busy N, the first N
uploads are answered 503 with Retry-After: 1, to watch the publish stage wait and retry.

It is a demonstration, not a production server: no TLS, no auth beyond one token.

    python3 receiver.py --dir received --port 8765
"""

import argparse
import base64
import hashlib
import hmac
import os
import sys
import tempfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/site/"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default="received", help="where files are stored (default: received)")
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default: 8765)")
    parser.add_argument("--busy", type=int, default=0, help="answer the first N uploads 503, Retry-After: 1")
    parser.add_argument("--max-bytes", type=int, default=64 << 20, help="largest body accepted (default: 64 MiB)")
    return parser.parse_args()


def digest_problem(header, body):
    """Why the Content-Digest header does not match the body, or None when it does (or has no sha-256)."""
    for member in header.split(","):
        name, _, value = member.strip().partition("=")
        if name.strip().lower() != "sha-256":
            continue
        value = value.strip()
        if not (value.startswith(":") and value.endswith(":")):
            return "Content-Digest sha-256 is not a byte sequence (:base64:)"
        try:
            sent = base64.b64decode(value[1:-1], validate=True)
        except ValueError:
            return "Content-Digest sha-256 is not valid base64"
        if not hmac.compare_digest(sent, hashlib.sha256(body).digest()):
            return "Content-Digest sha-256 does not match the body"
        return None
    return None


def target_path(root, raw_path):
    """DIR/relative for a request path under PREFIX, or None when it would leave DIR."""
    path = raw_path.split("?", 1)[0]
    if not path.startswith(PREFIX):
        return None
    segments = [urllib.parse.unquote(s, errors="strict") for s in path[len(PREFIX):].split("/")]
    for segment in segments:
        if segment in ("", ".", "..") or "/" in segment or "\\" in segment or "\0" in segment:
            return None
    target = os.path.realpath(os.path.join(root, *segments))
    if os.path.commonpath([root, target]) != root or target == root:
        return None
    return target


class Handler(BaseHTTPRequestHandler):
    server_version = "publish-receiver/1"
    root = ""
    token = None
    busy = 0
    max_bytes = 0
    lock = threading.Lock()

    def answer(self, status, text=""):
        body = (text + "\n").encode() if text else b""
        self.send_response(status)
        if status == 503:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        if self.token is not None:
            sent = self.headers.get("Authorization", "")
            if not hmac.compare_digest(sent.encode(), ("Bearer " + self.token).encode()):
                return self.answer(401, "missing or wrong bearer token")
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            return self.answer(411, "Content-Length required")
        if int(length) > self.max_bytes:
            return self.answer(413, "body larger than %d bytes" % self.max_bytes)
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            return self.answer(400, "body shorter than its Content-Length")
        with Handler.lock:
            if Handler.busy > 0:
                Handler.busy -= 1
                return self.answer(503, "busy, try again in a second")
        try:
            target = target_path(self.root, self.path)
        except UnicodeDecodeError:
            target = None
        if target is None:
            return self.answer(400, "the path must be under %s and stay inside it" % PREFIX)
        problem = digest_problem(self.headers.get("Content-Digest", ""), body)
        if problem:
            return self.answer(400, problem)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        existed = os.path.exists(target)
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".upload-")
        with os.fdopen(fd, "wb") as out:
            out.write(body)
        os.replace(temporary, target)
        self.answer(204 if existed else 201)

    do_POST = do_PUT

    def log_message(self, format, *args):
        sys.stdout.write("%s %s\n" % (self.log_date_time_string(), format % args))
        sys.stdout.flush()


def main():
    args = parse_args()
    Handler.root = os.path.realpath(args.dir)
    os.makedirs(Handler.root, exist_ok=True)
    Handler.token = os.environ.get("RECEIVER_TOKEN") or None
    Handler.busy = args.busy
    Handler.max_bytes = args.max_bytes
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("receiving on http://127.0.0.1:%d%s into %s" % (args.port, PREFIX, Handler.root), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
