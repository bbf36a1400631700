"""A TCP proxy on loopback in front of a real server: it relays both ways until `stall()`, then relays nothing
more while keeping every connection open, which is what a hung server looks like to its clients."""

from __future__ import annotations

import socket
import threading


class StallingProxy:
    def __init__(self, upstream_port: int):
        self.upstream = ("127.0.0.1", upstream_port)
        self.stalled = threading.Event()
        self.connected = threading.Event()  # a client came
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
                server = socket.create_connection(self.upstream)
            except OSError:
                return
            self._sockets += [client, server]
            self.connected.set()
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._relay, args=(source, sink), daemon=True).start()

    def _relay(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    return
                if not self.stalled.is_set():  # stalled: read and dropped, never answered
                    sink.sendall(data)
            except OSError:
                return

    def stall(self) -> None:
        self.stalled.set()

    def close(self) -> None:
        self._listener.close()
        for s in self._sockets:
            s.close()
