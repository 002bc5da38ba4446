# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fetch an MTA-STS policy over HTTPS the way RFC 8461 section 3.3 tells senders to.

No Ansible imports. asyncio streams carry the connection to an address our own resolver found, while
SNI and the certificate check use the policy host's name (DNS-ID only); h11 does the HTTP/1.1 framing.
Redirects are never followed, 1xx interim responses are read past, Content-Encoding is decoded only
for what the request offered, and the download stops at 64 KiB of decoded content (or a bounded
compressed read) or at the one deadline of the fetch, whichever comes first.

``resolve_and_fetch_policy`` is the one policy pipeline (resolve -> connect -> fetch -> decode ->
parse) that the audit, ``mailsec.mta_sts.policy_fetch`` and the deploy role's verification share.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import ssl
import time
import zlib

try:
    import h11
    HAS_H11 = True
except ImportError:
    HAS_H11 = False

from .clip import clip
from .findings import capped, finding
from .policy import MAX_POLICY_BYTES, PolicyError, parse_policy
from .tls import (DIAGNOSTIC_CONTEXT, certificate_facts, classify_tls_error, connect_words, der_certificate_facts,
                  name_mismatch_words, os_error_detail)
from .tls import tls_client_context  # noqa: F401 pylint: disable=unused-import  # callers import it from here

HAS_URLLIB3 = HAS_H11  # the name the audit module still imports; the HTTP client is h11 now

POLICY_PATH = '/.well-known/mta-sts.txt'
USER_AGENT = 'mailsec.mta_sts-audit'
ACCEPT_ENCODING = 'gzip, deflate'
MAX_POLICY_ADDRESSES = 4        # like a sender, the next address only when one is unreachable
MAX_INTERIM_RESPONSES = 8       # RFC 9110 section 15.2: "one or more" 1xx; a flood of them is not an answer
MAX_HEADER_BYTES = 16384        # status line and headers together
MAX_COMPRESSED_BYTES = MAX_POLICY_BYTES + 16384   # compressed text is smaller than the text; a bound on the read
_CHUNK = 8192
_READ = 8192

# fetch problem word -> finding code
POLICY_PROBLEM_CODES = {
    'connect-failed': 'policy-connect-failed', 'timeout': 'policy-timeout',
    'cert-expired': 'policy-cert-expired', 'cert-name-mismatch': 'policy-cert-name-mismatch',
    'cert-untrusted': 'policy-cert-untrusted', 'tls-error': 'policy-tls-error',
    'redirect': 'policy-redirect', 'http-status': 'policy-http-status',
    'content-type': 'policy-content-type', 'content-encoding': 'policy-content-encoding',
    'too-large': 'policy-too-large', 'http-error': 'policy-http-error',
}

# Content-Encoding tokens (RFC 9110 section 8.4.1) -> zlib window bits; x-gzip is gzip (section 8.4.1.3)
_CODINGS = {'gzip': 31, 'x-gzip': 31, 'deflate': 15}


class PolicyFetch(object):
    """What the fetch saw; ``problem`` is None on a complete 200 response, else a short stable word.

    ``detail`` says what failed in words for people; ``technical`` keeps what the TLS or HTTP layer said.
    """

    def __init__(self, url, address):
        self.url = url
        self.address = address
        self.problem = None
        self.detail = None
        self.technical = None
        self.http_status = None
        self.interim = []
        self.content_type = None
        self.content_encoding = None
        self.location = None
        self.last_modified = None
        self.body = None
        self.size = None
        self.certificate = None
        self.tls_version = None
        self.elapsed = None

    def fail(self, problem, detail, technical=None):
        self.problem = problem
        self.detail = detail
        self.technical = _short(technical) if technical else None
        self.body = None
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
        if self.last_modified:
            evidence['last_modified'] = self.last_modified  # MX migration: since when the policy is served
        if self.interim:
            evidence['interim_responses'] = list(self.interim)
        if self.tls_version:
            evidence['tls_version'] = self.tls_version
        if self.problem:
            evidence['error'] = self.detail
            if self.technical:
                evidence['error_detail'] = self.technical
        return evidence


class _TooLarge(Exception):
    pass


class _BadEncoding(Exception):
    pass


class _Decoder(object):
    """Undoes the Content-Encoding layers (last applied first) in bounded pieces, up to ``limit`` bytes of text."""

    def __init__(self, codings, limit):
        self.layers = [zlib.decompressobj(_CODINGS[coding]) for coding in reversed(codings)]
        self.raw_deflate = [coding == 'deflate' for coding in reversed(codings)]
        self.started = [False] * len(self.layers)
        self.limit = limit
        self.out = bytearray()

    def feed(self, data):
        self._push(0, data)

    def finish(self):
        for index in range(len(self.layers)):
            self._push(index, b'', flush=True)
            if not self.layers[index].eof:
                raise _BadEncoding('compressed stream %d of %d ended early' % (index + 1, len(self.layers)))
        return bytes(self.out)

    def _push(self, index, data, flush=False):
        if index == len(self.layers):
            self.out.extend(data)
            if len(self.out) > self.limit:
                raise _TooLarge()
            return
        while data or flush:
            layer = self.layers[index]
            try:
                piece = layer.decompress(data, _CHUNK)
            except zlib.error as exc:
                if self.raw_deflate[index] and not self.started[index]:
                    # "deflate" is zlib data (RFC 9110 section 8.4.1.2); some servers send it raw
                    self.layers[index] = zlib.decompressobj(-15)
                    self.raw_deflate[index] = False
                    continue
                raise _BadEncoding('%s' % exc)
            self.started[index] = True
            data = layer.unconsumed_tail
            if piece:
                self._push(index + 1, piece)
            elif not data:
                break
            flush = flush and bool(piece or data)


def _codings(header):
    """The Content-Encoding tokens in the order applied, without identity; None when one was not offered."""
    tokens = [token.strip().lower() for token in (header or '').split(',') if token.strip()]
    tokens = [token for token in tokens if token != 'identity']
    if any(token not in _CODINGS for token in tokens):
        return None
    return tokens


def _loop_deadline(timeout):
    return asyncio.get_running_loop().time() + timeout


async def fetch_policy_async(host, addresses, timeout, ssl_context, port=443):
    """GET https://<host>/.well-known/mta-sts.txt from the first of ``addresses`` that is reachable.

    One deadline (``timeout`` seconds) for all addresses; never raises for what a server does.
    """
    if isinstance(addresses, str):
        addresses = [addresses]
    deadline = _loop_deadline(timeout)
    started = time.monotonic()
    result = None
    for address in list(addresses)[:MAX_POLICY_ADDRESSES]:
        result = await _fetch_one(host, address, port, ssl_context, deadline)
        if result.problem != 'connect-failed':
            break  # like a sender: only an unreachable address makes the next one worth a try
    if result is None:
        result = PolicyFetch('https://%s%s' % (host, POLICY_PATH), None).fail(
            'connect-failed', 'no address to connect to')
    result.elapsed = time.monotonic() - started
    return result


def fetch_policy(host, addresses, timeout, ssl_context, port=443):
    """``fetch_policy_async`` for callers without an event loop: one loop for the call."""
    return asyncio.run(fetch_policy_async(host, addresses, timeout, ssl_context, port=port))


async def _fetch_one(host, address, port, ssl_context, deadline):
    result = PolicyFetch('https://%s%s' % (host, POLICY_PATH), address)
    writer = None
    try:
        async with asyncio.timeout_at(deadline):
            try:
                reader, writer = await asyncio.open_connection(
                    address, port, ssl=ssl_context, server_hostname=host, limit=MAX_HEADER_BYTES)
            except (ssl.SSLError, ssl.CertificateError) as exc:
                outcome, words, technical = classify_tls_error(exc, host)
                if outcome == 'cert-name-mismatch':
                    facts = await _unverified_certificate(address, port, host)
                    result.certificate = facts
                    words = name_mismatch_words(host, facts)
                return result.fail(outcome, words, technical)
            except OSError as exc:
                return result.fail('connect-failed', connect_words(address, port, exc), os_error_detail(exc))
            tls = writer.get_extra_info('ssl_object')
            result.tls_version = tls.version()
            result.certificate = certificate_facts(tls.getpeercert())
            await _exchange(result, host, reader, writer)
            return result
    except TimeoutError:
        return result.fail('timeout', 'no complete answer within the timeout')
    finally:
        if writer is not None:
            writer.transport.abort()  # no TLS goodbye: a hostile server must not hold us in close


async def _unverified_certificate(address, port, host):
    """The certificate the server presents, read without trusting it, for a clear name-mismatch finding."""
    writer = None
    try:
        _reader, writer = await asyncio.open_connection(address, port, ssl=DIAGNOSTIC_CONTEXT, server_hostname=host)
        return der_certificate_facts(writer.get_extra_info('ssl_object').getpeercert(binary_form=True))
    except (OSError, ValueError):
        return None
    finally:
        if writer is not None:
            writer.transport.abort()


async def _exchange(result, host, reader, writer):
    connection = h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)
    request = h11.Request(method='GET', target=POLICY_PATH, headers=[
        ('Host', host), ('User-Agent', USER_AGENT), ('Accept', 'text/plain'),
        ('Accept-Encoding', ACCEPT_ENCODING), ('Connection', 'close')])
    writer.write(connection.send(request) + connection.send(h11.EndOfMessage()))
    try:
        await writer.drain()
        response = await _final_response(result, connection, reader)
        if response is None:
            return
        if not _judge_headers(result, response):
            return
        await _read_body(result, connection, reader)
    except h11.RemoteProtocolError as exc:
        result.fail('http-error', _protocol_words(exc), 'h11: %s' % exc)
    except OSError as exc:
        result.fail('http-error', 'the connection broke during the download', os_error_detail(exc))


async def _next_event(connection, reader):
    while True:
        event = connection.next_event()
        if event is not h11.NEED_DATA:
            return event
        connection.receive_data(await reader.read(_READ))


async def _final_response(result, connection, reader):
    # RFC 9110 section 15.2: a client MUST parse one or more 1xx responses before the final one
    while True:
        event = await _next_event(connection, reader)
        if isinstance(event, h11.InformationalResponse):
            result.interim.append(event.status_code)
            if len(result.interim) > MAX_INTERIM_RESPONSES:
                result.fail('http-error', 'more than %d interim (1xx) responses and no final one' % MAX_INTERIM_RESPONSES)
                return None
            continue
        if isinstance(event, h11.Response):
            return event
        result.fail('http-error', 'the server closed the connection without an HTTP response')
        return None


def _header(response, name):
    values = [value.decode('latin-1') for key, value in response.headers if key == name]
    return ', '.join(values) if values else None


def _judge_headers(result, response):
    result.http_status = response.status_code
    result.content_type = _header(response, b'content-type')
    result.content_encoding = _header(response, b'content-encoding')
    result.last_modified = _clip_header(_header(response, b'last-modified'))
    if 300 <= response.status_code < 400:
        result.location = _header(response, b'location')
        result.fail('redirect', 'HTTP %d redirect to %s; senders do not follow redirects' % (
            response.status_code, _short(result.location or '(no Location)', 200)))
    elif response.status_code != 200:
        result.fail('http-status', 'HTTP %d instead of 200' % response.status_code)
    elif not is_text_plain(result.content_type):
        result.fail('content-type', 'Content-Type is %s instead of text/plain' % (
            '"%s"' % _short(result.content_type, 100) if result.content_type else 'missing'))
    elif _codings(result.content_encoding) is None:
        result.fail('content-encoding', 'Content-Encoding "%s" was not offered (the request accepts %s only)' % (
            _short(result.content_encoding, 100), ACCEPT_ENCODING))
    return result.problem is None


async def _read_body(result, connection, reader):
    codings = _codings(result.content_encoding)
    decoder = _Decoder(codings, MAX_POLICY_BYTES)
    raw_limit = MAX_COMPRESSED_BYTES if codings else MAX_POLICY_BYTES
    raw = 0
    try:
        while True:
            event = await _next_event(connection, reader)
            if isinstance(event, h11.Data):
                raw += len(event.data)
                if raw > raw_limit:
                    result.size = len(decoder.out) if codings else raw
                    result.fail('too-large', 'more than %d bytes%s' % (
                        raw_limit, ' of compressed data' if codings else ''))
                    return
                decoder.feed(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                result.body = decoder.finish()
                result.size = len(result.body)
                return
            else:
                result.fail('http-error', 'the connection closed before the whole policy arrived')
                return
    except _TooLarge:
        result.size = len(decoder.out)
        result.fail('too-large', 'more than %d bytes after decoding' % MAX_POLICY_BYTES)
    except _BadEncoding as exc:
        result.fail('http-error', 'the body is not valid %s data' % ' and '.join(codings), 'zlib: %s' % exc)


def _clip_header(value, limit=100):
    return _short(value, limit) if value else None


def _protocol_words(exc):
    text = str(exc)
    if 'peer closed connection without sending complete message body' in text:
        return 'the connection closed before the whole policy arrived'
    if 'buffer' in text.lower() and 'too long' in text.lower():
        return 'the response headers are longer than %d bytes' % MAX_HEADER_BYTES
    return 'the answer is not valid HTTP/1.1'


def is_text_plain(content_type):
    """RFC 8461 section 3.3: media type text/plain; parameters such as charset are allowed."""
    if not content_type:
        return False
    return content_type.split(';', 1)[0].strip().lower() == 'text/plain'


def _short(text, limit=300):
    return clip(text, limit)


# ---------------------------------------------------------------------------------------------------
# the one pipeline: resolve -> (address policy) -> connect -> fetch -> decode -> parse

async def resolve_policy_addresses(dns, host, deadline=None):
    """A and AAAA of the policy host at once: (addresses, evidence, finding or None)."""
    lookups = await asyncio.gather(dns.lookup(host, 'A', deadline=deadline), dns.lookup(host, 'AAAA', deadline=deadline))
    addresses = [address for lookup in lookups for address in lookup.records]
    evidence = {'lookups': [lookup.as_evidence() for lookup in lookups], 'addresses': addresses}
    problem = None
    if not addresses:
        failed = [lookup for lookup in lookups if lookup.outcome == 'error']
        if failed:
            problem = finding('policy-host-lookup-failed', 'the address lookup of %s got no answer: %s' % (
                host, failed[0].error))
        else:
            problem = finding('policy-host-missing', '%s has no A or AAAA record (%s)' % (host, lookups[0].outcome))
    return addresses, evidence, problem


async def resolve_and_fetch_policy(dns, domain, timeout, ssl_context, address_filter=None, addresses=None, port=443):
    """THE policy pipeline: (evidence, findings, parsed policy or None) for ``domain``.

    ``dns`` is the engine's DnsClient; ``addresses`` skips the lookup (a web server checked before DNS
    points at it); ``address_filter(host, address)`` returns None or a finding for an address that must not
    be contacted (the engine's address policy).
    """
    host = 'mta-sts.%s' % domain
    evidence = {'host': host, 'url': 'https://%s%s' % (host, POLICY_PATH)}
    findings = []
    if addresses is None:
        addresses, evidence['dns'], problem = await resolve_policy_addresses(dns, host)
        if problem:
            return evidence, [problem], None
    if address_filter is not None:
        allowed = []
        for address in addresses:
            refused = address_filter(host, address)
            if refused is None:
                allowed.append(address)
            else:
                findings.append(refused)
        if not allowed:
            return evidence, findings, None
        addresses = allowed
    fetched = await fetch_policy_async(host, addresses, timeout, ssl_context, port=port)
    evidence.update(fetched.as_evidence())
    if fetched.problem:
        findings.append(finding(POLICY_PROBLEM_CODES[fetched.problem], '%s (%s): %s' % (
            evidence['url'], fetched.address, fetched.detail)))
        return evidence, findings, None
    try:
        evidence['text'] = fetched.body.decode('utf-8')
    except UnicodeDecodeError as exc:
        evidence['text'] = fetched.body.decode('utf-8', 'replace')
        findings.append(finding('policy-encoding', 'the policy is not UTF-8 text: byte %d (0x%02x) is not valid UTF-8' % (
            exc.start, fetched.body[exc.start])))
        return evidence, findings, None
    try:
        parsed = parse_policy(evidence['text'])
    except PolicyError as exc:
        findings.extend(finding(code, message) for code, message in capped(exc.problems))
        return evidence, findings, None
    evidence['parsed'] = parsed
    evidence.update({'version': parsed['version'], 'mode': parsed['mode'],
                     'max_age': parsed['max_age'], 'mx': parsed['mx']})
    return evidence, findings, parsed


def resolve_and_fetch_policy_sync(dns, domain, timeout, ssl_context, address_filter=None, addresses=None, port=443):
    """``resolve_and_fetch_policy`` for modules: one event loop for the call."""
    return asyncio.run(resolve_and_fetch_policy(dns, domain, timeout, ssl_context, address_filter=address_filter,
                                                addresses=addresses, port=port))
