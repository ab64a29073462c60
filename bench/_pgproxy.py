"""A loopback TCP proxy that counts round trips from database clients to the server.

Put between a service and PostgreSQL (`127.0.0.1:<proxy port>` in the database URL), it
counts every chunk a client sends. A PostgreSQL client sends a request (a query, a
Parse/Bind/Execute batch, a COMMIT, the pre-ping's `SELECT 1`) in one write and then
waits for the answer, so on loopback one chunk is one round trip; batched (pipelined)
messages arrive as one chunk and rightly count once. It reads no credentials: bytes pass
through untouched.
"""

from __future__ import annotations

import selectors
import socket
import threading

CHUNK = 65536


class CountingProxy:
    """Forward 127.0.0.1:port to `target` and count client → server chunks."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._chunks = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="pgproxy", daemon=True)
        self._thread.start()

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._chunks = 0

    @property
    def round_trips(self) -> int:
        """Return the client → server chunks seen since the last reset."""
        with self._lock:
            return self._chunks

    def stop(self) -> None:
        """Stop accepting; open connections end when their client closes them."""
        self._stopped.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        """Copy both ways until either side closes; count what the client sends."""
        with selectors.DefaultSelector() as selector, client, server:
            selector.register(client, selectors.EVENT_READ, server)
            selector.register(server, selectors.EVENT_READ, client)
            while True:
                for key, _ in selector.select():
                    source, sink = key.fileobj, key.data
                    try:
                        data = source.recv(CHUNK)
                    except OSError:
                        return
                    if not data:
                        return
                    if source is client:
                        with self._lock:
                            self._chunks += 1
                    sink.sendall(data)
