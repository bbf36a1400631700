"""Model URLs: `-m grpc://HOST:PORT/MODEL[:VERSION]` and `-m http(s)://HOST:PORT/v2/models/MODEL[/versions/V]`
(KServe v2's own paths). Parsed without loading anything heavy: models are resolved before a run starts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import DemoError

SCHEMES = ("grpc", "http", "https")
DEFAULT_REMOTE_TIMEOUT = 30.0  # seconds a call to a model server may take (--remote-timeout)


def is_remote(ref: str) -> bool:
    return isinstance(ref, str) and ref.split("://", 1)[0].lower() in SCHEMES and "://" in ref


@dataclass(frozen=True)
class RemoteModelRef:
    """A model on a server: protocol (grpc or http), host:port, the model's name and version ("" = the server's
    choice), TLS for https."""

    protocol: str
    address: str
    model: str
    version: str = ""
    ssl: bool = False
    timeout: float = DEFAULT_REMOTE_TIMEOUT  # seconds a call may take

    @property
    def url(self) -> str:
        if self.protocol == "grpc":
            return f"grpc://{self.address}/{self.model}" + (f":{self.version}" if self.version else "")
        scheme = "https" if self.ssl else "http"
        return f"{scheme}://{self.address}/v2/models/{self.model}" + (f"/versions/{self.version}" if self.version
                                                                      else "")

    def __str__(self) -> str:
        return self.url


HTTP_PATH = re.compile(r"/v2/models/(?P<model>[^/]+)(/versions/(?P<version>[^/]+))?/?")
GRPC_PATH = re.compile(r"/(?P<model>[^/:]+)(:(?P<version>[^/:]+))?/?")
USAGE = "use grpc://HOST:PORT/MODEL[:VERSION] or http(s)://HOST:PORT/v2/models/MODEL[/versions/V]"


def parse_ref(ref: str, timeout: float = DEFAULT_REMOTE_TIMEOUT) -> RemoteModelRef:
    try:
        parts = urlsplit(ref)
    except ValueError as e:  # grpc://[::1/m: "Invalid IPv6 URL"
        raise DemoError(f"'{ref}' is not a model URL ({e})", USAGE) from None
    scheme = parts.scheme.lower()
    match = (GRPC_PATH if scheme == "grpc" else HTTP_PATH).fullmatch(parts.path)
    try:
        port = parts.port
    except ValueError:
        port = None
        match = None
    if not parts.hostname or match is None or parts.query or parts.fragment:
        raise DemoError(f"'{ref}' is not a model URL", USAGE)
    if port is None:
        if scheme == "grpc":
            raise DemoError(f"'{ref}' names no port", "KServe gRPC has no standard port: grpc://HOST:PORT/MODEL")
        port = 443 if scheme == "https" else 80
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return RemoteModelRef("grpc" if scheme == "grpc" else "http", f"{host}:{port}", match["model"],
                          match["version"] or "", scheme == "https", timeout)
