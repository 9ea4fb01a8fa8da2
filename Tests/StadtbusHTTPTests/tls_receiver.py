"""A receiver that requires a client certificate from the Stadtbus development CA (mTLS).

Usage: tls_receiver.py PORT CERTS_OUT_DIR — answers POST with 201 and the client's subject CN.
PORT 0 lets the kernel choose; the receiver prints "ready PORT" with the bound port once it listens.
Stops by itself after 60 seconds (tests never leave it behind).
"""
import http.server
import ssl
import sys
import threading

port, certs = int(sys.argv[1]), sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        subject = dict(x[0] for x in self.connection.getpeercert()["subject"])
        body = subject.get("commonName", "?").encode()
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(f"{certs}/broker/server.pem", f"{certs}/broker/server.key")
context.load_verify_locations(f"{certs}/ca/ca.pem")
context.verify_mode = ssl.CERT_REQUIRED
server = http.server.HTTPServer(("127.0.0.1", port), Handler)
server.socket = context.wrap_socket(server.socket, server_side=True)
threading.Timer(60, server.shutdown).start()
print(f"ready {server.server_address[1]}", flush=True)
server.serve_forever()
