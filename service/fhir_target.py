"""Where the EHR's bearer token may go: the fhirServer policy and the URLs fetched under it.

The service fetches with the ``fhirAuthorization`` token, so every URL it fetches is a place the
token is sent. Two rules keep it with the EHR that issued it:

1. ``fhirServer`` itself must pass the policy (``check_fhir_server``): https unless loopback or
   allow-listed (LENADEX_FHIR_SERVERS); link-local and cloud metadata addresses never;
   loopback and private ranges only when allow-listed, or loopback with authentication off
   (the local default, where the sandbox's FHIR server runs on 127.0.0.1). A hostname is
   resolved once and every address it resolves to is checked; the connection then goes to
   those checked addresses only (``pinned_session``), so a second DNS answer cannot move it.
2. Every URL fetched afterwards — a search page's ``next`` link, a medicationReference — must
   stay on that server: same scheme, host and port, path under its base path, with nothing a
   server could normalise into another path (``same_server_url``, ``reference_url``).
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import socket
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., Sequence[tuple[Any, ...]]]

DEFAULT_PORTS = {"http": 80, "https": 443}

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
"""Cloud instance metadata services by name: they hand out the host's own credentials."""
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)
LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")

RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_UNSAFE_IN_URL = re.compile(r"[\\\s\x00-\x1f\x7f]")
"""Backslashes (read as "/" by some parsers and servers), whitespace and control characters."""
_UNSAFE_IN_PATH = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
"""Percent-encoded dots, slashes, backslashes and NULs in the path: what a server might decode
into a path other than the one checked. (In the query they are ordinary: a search's next link
carries ``code=http%3A%2F%2Floinc.org...``.)"""


class TargetRefused(Exception):
    """A URL the token must not be sent to; the message says why (for the log, not the caller)."""


class TargetUnreachable(TargetRefused):
    """The name could not be resolved: a network failure, told to the caller as any other."""


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    """Lower case; an IPv6 address without brackets."""
    port: int

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class ServerUrl:
    """An origin and a normalised base path ("" for the root, never a trailing "/")."""

    origin: Origin
    base_path: str

    def covers(self, path: str) -> bool:
        """``path`` (normalised) is this base path or below it."""
        return not self.base_path or path == self.base_path or path.startswith(self.base_path + "/")

    @property
    def url(self) -> str:
        return f"{self.origin.scheme}://{self.origin.netloc}{self.base_path}"


@dataclass(frozen=True)
class FhirServerPolicy:
    allowed: tuple[ServerUrl, ...] = ()
    """LENADEX_FHIR_SERVERS: when not empty, the only servers fetched from."""
    auth_on: bool = False
    """The service authenticates its clients: a caller could otherwise aim the service at
    internal addresses, so loopback and private ranges need the allow-list."""

    @classmethod
    def from_settings(cls, settings: Any) -> FhirServerPolicy:
        allowed = tuple(parse_server_url(item) for item in settings.csv(settings.fhir_servers))
        # Any sign of authentication being configured counts: the stricter policy is the safe
        # side when the settings are half way between.
        auth_on = settings.auth != "off" or bool(settings.jwks.strip()) or bool(settings.trusted_issuers.strip())
        return cls(allowed=allowed, auth_on=auth_on)

    def allow_listed(self, server: ServerUrl) -> bool:
        return any(entry.origin == server.origin and entry.covers(server.base_path) for entry in self.allowed)


@dataclass(frozen=True)
class FhirTarget:
    """A fhirServer that passed the policy, and the addresses it may be reached at."""

    server: ServerUrl
    addresses: tuple[str, ...]

    @property
    def base_url(self) -> str:
        return self.server.url


def parse_server_url(url: str) -> ServerUrl:
    """A base URL or origin as given in fhirServer or LENADEX_FHIR_SERVERS; TargetRefused if it
    has anything the URL checks below would refuse (userinfo, query, ``..``, ...)."""
    parts = _split_checked(url)
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        raise TargetRefused("a FHIR base URL has no query or fragment")
    return ServerUrl(_origin(parts), _normalised_path(parts.path))


def check_fhir_server(url: str, policy: FhirServerPolicy, resolve: Resolver = socket.getaddrinfo) -> FhirTarget:
    """fhirServer checked against the policy, with the addresses to connect to.

    Decided before any socket is opened: literal addresses need no DNS; a name is resolved
    once (``resolve``) and refused if any address it resolves to is refused, so that which of
    them a connection would pick does not matter.
    """
    server = parse_server_url(url)
    listed = policy.allow_listed(server)
    if policy.allowed and not listed:
        raise TargetRefused("fhirServer is not in LENADEX_FHIR_SERVERS")
    host = server.origin.host
    if host.rstrip(".") in METADATA_HOSTS:
        raise TargetRefused("fhirServer names a cloud metadata service")
    literal = _ip(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            infos = resolve(host, server.origin.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            raise TargetUnreachable(f"fhirServer name does not resolve ({type(error).__name__})") from None
        addresses = []
        for info in infos:
            address = _ip(str(info[4][0]).partition("%")[0])  # an IPv6 zone index is not part of it
            if address is None:
                raise TargetRefused("fhirServer resolved to something that is not an IP address")
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise TargetUnreachable("fhirServer name resolves to no address")
    for address in addresses:
        refusal = address_refusal(address, policy, allow_listed=listed)
        if refusal is not None:
            raise TargetRefused(f"fhirServer {'resolves to' if literal is None else 'is'} {refusal}")
    loopback = all(_unmapped(a).is_loopback for a in addresses)
    if server.origin.scheme != "https" and not (loopback or listed):
        raise TargetRefused("fhirServer must be https (or loopback, or named in LENADEX_FHIR_SERVERS)")
    return FhirTarget(server, tuple(str(a) for a in addresses))


def address_refusal(address: IPAddress, policy: FhirServerPolicy, *, allow_listed: bool) -> str | None:
    """Why the token may not be sent to ``address`` under ``policy``; None if it may."""
    address = _unmapped(address)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if any(address in network for network in LINK_LOCAL):
        return "a link-local address"
    if address.is_loopback:  # before is_reserved, which ::1 is too
        if allow_listed or not policy.auth_on:
            return None
        return "a loopback address (with authentication on it must be named in LENADEX_FHIR_SERVERS)"
    if (
        address.is_unspecified
        or address.is_multicast
        or address.is_reserved
        or (isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address("255.255.255.255"))
    ):
        return "not a unicast address"  # 0.0.0.0 and :: reach the host itself on Linux
    if any(address in network for network in PRIVATE) or not address.is_global:
        if allow_listed:
            return None
        return "a private address (it must be named in LENADEX_FHIR_SERVERS)"
    return None


def same_server_url(url: str, target: FhirTarget, relative_to: str | None = None) -> str | None:
    """``url`` (absolute, or relative to ``relative_to``) rebuilt from its checked parts if it
    is on the target's server under its base path; None otherwise."""
    if url.startswith("//") or _unsafe(url) or any(s in (".", "..") for s in _path_of(url).split("/")):
        return None
    try:
        parts = _split_checked(urljoin(relative_to, url) if relative_to else url)
        origin = _origin(parts)
        path = _normalised_path(parts.path, keep_trailing_slash=True)
    except TargetRefused:
        return None
    if origin != target.server.origin or parts.fragment:
        return None
    if not target.server.covers(path.rstrip("/")):
        return None
    query = f"?{parts.query}" if parts.query else ""
    return f"{origin.scheme}://{origin.netloc}{path}{query}"


def reference_url(reference: str, target: FhirTarget) -> str | None:
    """The URL of a literal reference if it may be read: ``Type/id`` (optionally
    ``/_history/vid``) relative to the base, or an absolute URL of that form under it."""
    if "://" in reference:
        url = same_server_url(reference, target)
        if url is None:
            return None
        relative = url[len(target.base_url) + 1 :]
    else:
        relative = reference
    segments = relative.split("/")
    if not (len(segments) in (2, 4) and RESOURCE_TYPE.fullmatch(segments[0]) and _fhir_id(segments[1])):
        return None
    if len(segments) == 4 and not (segments[2] == "_history" and _fhir_id(segments[3])):
        return None
    return same_server_url(f"{target.base_url}/{relative}", target)


def _fhir_id(text: str) -> bool:
    return bool(FHIR_ID.fullmatch(text)) and text not in (".", "..")


def _split_checked(url: str) -> SplitResult:
    if _unsafe(url):
        raise TargetRefused("the URL has backslashes, spaces, control characters or encoded dots or slashes")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number in range
    except ValueError:
        raise TargetRefused("the URL cannot be parsed") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise TargetRefused("only http and https URLs are fetched")
    if "@" in parts.netloc:
        raise TargetRefused("the URL has userinfo")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        raise TargetRefused("the URL path has '.' or '..' segments")
    return parts


def _origin(parts: SplitResult) -> Origin:
    host = (parts.hostname or "").lower()
    return Origin(parts.scheme, host, parts.port or DEFAULT_PORTS[parts.scheme])


def _normalised_path(path: str, *, keep_trailing_slash: bool = False) -> str:
    """The path with no empty segments ("//" could be read as a new authority), and no trailing
    "/" unless kept (a next link is fetched as given)."""
    trailing = keep_trailing_slash and path.endswith("/") and path != "/"
    segments = [s for s in path.split("/") if s]
    if "" in path.split("/")[1:-1]:
        raise TargetRefused("the URL path has empty segments")
    normalised = "".join(f"/{s}" for s in segments)
    return normalised + "/" if trailing else normalised


def _path_of(url: str) -> str:
    """The part before any query or fragment, scheme and host included."""
    return url.split("?", 1)[0].split("#", 1)[0]


def _unsafe(url: str) -> bool:
    return bool(_UNSAFE_IN_URL.search(url) or _UNSAFE_IN_PATH.search(_path_of(url)))


def _ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _unmapped(address: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped or NAT64 IPv6 address: checked as that."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


# --- connecting to the checked addresses only -------------------------------------------------

_COLLECTING = threading.local()


class SocketRegistry:
    """The sockets a hook call's fetches opened, so that the call can shut them when it
    answers: a read blocked on a server that sends a byte now and then returns at once, and
    the worker thread is free (no fetch outlives its call)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._shut = False

    @contextmanager
    def collecting(self) -> Iterator[None]:
        """Sockets opened by this thread meanwhile belong to this registry."""
        previous = getattr(_COLLECTING, "registry", None)
        _COLLECTING.registry = self
        try:
            yield
        finally:
            _COLLECTING.registry = previous

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            if not self._shut:
                self._sockets.add(sock)
                return
        _shut(sock)  # opened after the call answered: of no use

    def shut_all(self) -> None:
        with self._lock:
            self._shut = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _registered(sock: socket.socket) -> socket.socket:
    registry = getattr(_COLLECTING, "registry", None)
    if registry is not None:
        registry.add(sock)
    return sock


def _pinned(connection_class: type[HTTPConnection], addresses: tuple[str, ...]) -> type[HTTPConnection]:
    """A connection class that opens its socket to ``addresses`` (already checked) instead of
    resolving the host name again; the Host header, SNI and certificate check still use the
    name, because only the socket's destination changes."""

    class PinnedConnection(connection_class):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> socket.socket:
            last: OSError | None = None
            for address in addresses:
                try:
                    return _registered(
                        urllib3_connection.create_connection(
                            (address, self.port),
                            self.timeout,
                            source_address=self.source_address,
                            socket_options=self.socket_options,
                        )
                    )
                except TimeoutError as error:
                    raise ConnectTimeoutError(self, f"connection to {self.host} timed out") from error
                except OSError as error:
                    last = error
            raise NewConnectionError(self, f"failed to establish a new connection: {last}")

    return PinnedConnection


class PinnedAdapter(HTTPAdapter):
    def __init__(self, addresses: tuple[str, ...]) -> None:
        self._addresses = addresses
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pinned_pools(self._addresses)


@functools.lru_cache(maxsize=256)
def _pinned_pools(addresses: tuple[str, ...]) -> dict[str, type[HTTPConnectionPool]]:
    """Connection pool classes per set of addresses, made once: a class per request would be
    garbage the collector has to find (classes are reference cycles)."""
    return {
        "http": type(
            "PinnedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": _pinned(HTTPConnection, addresses)}
        ),
        "https": type(
            "PinnedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": _pinned(HTTPSConnection, addresses)}
        ),
    }


class _NoRedirectSession(requests.Session):
    """Never looks for a redirect. requests, even with allow_redirects=False, prepares the
    next hop of a 3xx answer and reads the whole 3xx body to do so (``resp.content`` in
    resolve_redirects): a 302 with a 1 GiB body was read whole, past every bound of the
    call. With no redirect target the body is left to the service's own bounded reader."""

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None


def pinned_session(target: FhirTarget) -> requests.Session:
    """A session that reaches only ``target``'s checked addresses, follows no redirect and
    takes nothing from the environment: no proxy (which would see the token and resolve the
    name itself), no .netrc credentials. A private CA bundle is still honoured."""
    session = _NoRedirectSession()
    session.trust_env = False
    adapter = PinnedAdapter(target.addresses)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return session
