# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fetch an MTA-STS policy over HTTPS the way RFC 8461 section 3.3 tells senders to.

No Ansible imports. The connection goes to an address our own resolver found, while SNI and the
certificate check use the policy host's name. The download is streamed and stops at 64 KiB of
decoded content or at the deadline, whichever comes first; redirects are never followed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import socket
import ssl
import time

try:
    import urllib3
    from urllib3.exceptions import HTTPError as Urllib3Error
    HAS_URLLIB3 = True
except ImportError:
    HAS_URLLIB3 = False

from .clip import clip
from .deadline import REAPER
from .policy import MAX_POLICY_BYTES

POLICY_PATH = '/.well-known/mta-sts.txt'
USER_AGENT = 'mailsec.mta_sts-audit'
_CHUNK = 8192

# OpenSSL X509_V_ERR_* codes (ssl.SSLCertVerificationError.verify_code) mapped to stable outcomes
_VERIFY_CODES = {
    10: 'cert-expired',         # certificate has expired
    9: 'cert-expired',          # certificate is not yet valid: the validity window is the problem
    62: 'cert-name-mismatch',   # hostname mismatch
    2: 'cert-untrusted', 18: 'cert-untrusted', 19: 'cert-untrusted',
    20: 'cert-untrusted', 21: 'cert-untrusted', 27: 'cert-untrusted',
}


if HAS_URLLIB3:
    class _DeadlineHTTPSConnection(urllib3.connection.HTTPSConnection):
        """An HTTPS connection whose socket is shut down at the fetch's deadline, mid-handshake or mid-read."""

        def __init__(self, *args, **kwargs):
            self.deadline = kwargs.pop('deadline')
            self.reaper_handles = kwargs.pop('reaper_handles')
            super(_DeadlineHTTPSConnection, self).__init__(*args, **kwargs)

        def _new_conn(self):
            sock = super(_DeadlineHTTPSConnection, self)._new_conn()
            self.reaper_handles.append(REAPER.watch(sock, self.deadline))
            return sock

    class _DeadlineHTTPSConnectionPool(urllib3.HTTPSConnectionPool):
        ConnectionCls = _DeadlineHTTPSConnection


class FetchResult(object):
    """What the fetch saw; ``problem`` is None on a complete 200 response, else a short stable word."""

    def __init__(self, url, address):
        self.url = url
        self.address = address
        self.problem = None
        self.detail = None
        self.http_status = None
        self.content_type = None
        self.content_encoding = None
        self.location = None
        self.body = None
        self.size = None
        self.certificate = None
        self.elapsed = None

    def fail(self, problem, detail):
        self.problem = problem
        self.detail = detail
        return self

    def as_evidence(self):
        evidence = {
            'url': self.url, 'address': self.address, 'http_status': self.http_status,
            'content_type': self.content_type, 'size': self.size, 'certificate': self.certificate,
            'elapsed': round(self.elapsed, 3) if self.elapsed is not None else None,
        }
        if self.location:
            evidence['location'] = self.location
        if self.content_encoding:
            evidence['content_encoding'] = self.content_encoding
        if self.problem:
            evidence['error'] = self.detail
        return evidence


def tls_client_context(ca_path=None):
    """A verifying client context (TLS 1.2+); the system store unless ``ca_path`` names a PEM bundle."""
    context = ssl.create_default_context(cafile=ca_path) if ca_path else ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def certificate_facts(peercert, now=None):
    """Subject, issuer and expiry of a certificate as ssl.getpeercert() returns it."""
    if not peercert:
        return None
    now = now or datetime.datetime.now(datetime.timezone.utc)
    not_after = datetime.datetime.fromtimestamp(ssl.cert_time_to_seconds(peercert['notAfter']), datetime.timezone.utc)
    return {
        'subject': _dn_text(peercert.get('subject', ())),
        'issuer': _dn_text(peercert.get('issuer', ())),
        'not_after': not_after.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'days_left': int((not_after - now).total_seconds() // 86400),
        'san': [value for kind, value in peercert.get('subjectAltName', ()) if kind == 'DNS'],
    }


def _dn_text(dn):
    return ', '.join('%s=%s' % (key, value) for rdn in dn for key, value in rdn)


def classify_tls_error(exc):
    """Reduce an SSL/certificate exception to cert-expired, cert-name-mismatch, cert-untrusted or tls-error."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ssl.SSLCertVerificationError):
            outcome = _VERIFY_CODES.get(exc.verify_code)
            if outcome:
                return outcome, exc.verify_message or str(exc)
            return 'cert-untrusted', exc.verify_message or str(exc)
        if isinstance(exc, ssl.CertificateError) or 'doesn\'t match' in str(exc):
            return 'cert-name-mismatch', str(exc)
        nested = [arg for arg in getattr(exc, 'args', ()) if isinstance(arg, BaseException)]
        exc = exc.__cause__ or exc.__context__ or (nested[0] if nested else None)
    return 'tls-error', None


def fetch_policy(host, address, timeout, ssl_context, port=443):
    """GET https://<host>/.well-known/mta-sts.txt from ``address``; never raises for what the server does."""
    url = 'https://%s%s' % (host, POLICY_PATH)
    result = FetchResult(url, address)
    started = time.monotonic()
    deadline = started + timeout
    reaper_handles = []
    pool = _DeadlineHTTPSConnectionPool(
        address, port=port, ssl_context=ssl_context, server_hostname=host, assert_hostname=host,
        timeout=urllib3.Timeout(connect=timeout, read=timeout), retries=False, maxsize=1, block=False,
        deadline=deadline, reaper_handles=reaper_handles)
    response = None
    try:
        try:
            # open_url() cannot pin the address while checking the name: urllib3 directly, as requests does.
            response = pool.request('GET', POLICY_PATH, redirect=False, preload_content=False, decode_content=True,
                                    retries=False, headers={'Host': host, 'User-Agent': USER_AGENT,
                                                            'Accept-Encoding': 'gzip, deflate'})
        except Exception as exc:  # urllib3 wraps socket and TLS errors in many classes
            return _connection_problem(result, exc, deadline)
        _read_headers(result, response)
        if result.problem:
            return result
        _read_body(result, response, deadline)
        return result
    finally:
        result.elapsed = time.monotonic() - started
        if response is not None:
            response.close()
            response.release_conn()
        pool.close()
        for handle in reaper_handles:
            REAPER.forget(handle)


def _connection_problem(result, exc, deadline):
    text = str(exc)
    if time.monotonic() >= deadline:
        return result.fail('timeout', 'no complete answer within the timeout')  # the reaper cut it off
    if isinstance(exc, (urllib3.exceptions.SSLError, ssl.SSLError)) or 'SSL' in type(exc).__name__:
        outcome, detail = classify_tls_error(exc)
        return result.fail(outcome, detail or _short(text))
    if isinstance(exc, urllib3.exceptions.NewConnectionError) and not _is_timeout(exc):
        return result.fail('connect-failed', _short(text))  # NewConnectionError is a TimeoutError subclass
    if isinstance(exc, (urllib3.exceptions.TimeoutError, socket.timeout)) or time.monotonic() >= deadline:
        return result.fail('timeout', 'no complete answer within the timeout')
    if isinstance(exc, urllib3.exceptions.ProtocolError) and 'SSL' in text:
        outcome, detail = classify_tls_error(exc)
        return result.fail(outcome, detail or _short(text))
    if isinstance(exc, (urllib3.exceptions.NewConnectionError, ConnectionError, OSError)):
        return result.fail('connect-failed', _short(text))
    return result.fail('http-error', _short(text))


def _is_timeout(exc):
    return isinstance(exc.__cause__ or exc.__context__, socket.timeout) or 'timed out' in str(exc)


def _read_headers(result, response):
    result.http_status = response.status
    result.content_type = response.headers.get('Content-Type')
    result.content_encoding = response.headers.get('Content-Encoding')
    sock = getattr(response.connection, 'sock', None) if response.connection is not None else None
    if sock is not None and hasattr(sock, 'getpeercert'):
        result.certificate = certificate_facts(sock.getpeercert())
    if 300 <= response.status < 400:
        result.location = response.headers.get('Location')
        result.fail('redirect', 'HTTP %d to %s' % (response.status, _short(result.location or '(no Location)')))
    elif response.status != 200:
        result.fail('http-status', 'HTTP %d' % response.status)
    elif not is_text_plain(result.content_type):
        result.fail('content-type', 'Content-Type is %r' % (result.content_type,))


def _read_body(result, response, deadline):
    body = bytearray()
    sock = getattr(response.connection, 'sock', None)
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                result.fail('timeout', 'the policy download did not finish within the timeout')
                return
            if sock is not None:
                sock.settimeout(remaining)  # the whole download shares one deadline
            chunk = response.read1(_CHUNK, decode_content=True)  # read1: one recv, so the deadline holds
            if not chunk:
                break
            body.extend(chunk)
            if len(body) > MAX_POLICY_BYTES:
                result.size = len(body)
                result.fail('too-large', 'more than %d bytes after decoding' % MAX_POLICY_BYTES)
                return
    except (socket.timeout, urllib3.exceptions.TimeoutError, urllib3.exceptions.ReadTimeoutError):
        result.fail('timeout', 'the policy download did not finish within the timeout')
        return
    except (Urllib3Error, OSError, ValueError) as exc:
        if time.monotonic() >= deadline:
            result.fail('timeout', 'the policy download did not finish within the timeout')
        else:
            result.fail('http-error', 'the body could not be read: %s' % _short(str(exc)))
        return
    result.body = bytes(body)
    result.size = len(body)


def is_text_plain(content_type):
    """RFC 8461 section 3.3: media type text/plain; parameters such as charset are allowed."""
    if not content_type:
        return False
    return content_type.split(';', 1)[0].strip().lower() == 'text/plain'


def _short(text, limit=300):
    return clip(text, limit)
