# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""STARTTLS check of one MX host (RFC 8461 section 4.2): the certificate must be valid for the MX name.

No Ansible imports. The TCP connection (asyncio streams) goes to an address our resolver found; SNI and
the name check (DNS-ID only) use the MX host name, as a sending MTA that applies an MTA-STS policy would.
Every reply is bounded in lines and bytes and the whole conversation shares one deadline, so a server
that floods continuation lines, drips its banner or never answers costs at most the timeout and a few KiB.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import re
import ssl
import time

from .clip import clip
from .tls import (DIAGNOSTIC_CONTEXT, certificate_facts, classify_tls_error, connect_words, der_certificate_facts,
                  name_mismatch_words, os_error_detail)

EHLO_NAME = 'mta-sts-audit.invalid'
MAX_REPLY_LINES = 64        # an EHLO reply lists a dozen extensions; more is a flood
MAX_LINE_BYTES = 2048       # RFC 5321 section 4.5.3.1.5: a reply line is at most 512 octets
QUIT_SECONDS = 1.0          # a goodbye never holds the check for long

# STARTTLS problem word -> finding code
MX_TLS_PROBLEM_CODES = {
    'connect-failed': 'mx-connect-failed', 'starttls-missing': 'mx-starttls-missing',
    'cert-expired': 'mx-cert-invalid', 'cert-name-mismatch': 'mx-cert-invalid',
    'cert-untrusted': 'mx-cert-invalid', 'tls-error': 'mx-tls-error', 'timeout': 'mx-connect-failed',
}

_REPLY_LINE = re.compile(br'^([2-5][0-9][0-9])([ -]|$)')


class SmtpProblem(Exception):
    """The server's conversation went wrong: ``problem`` word, words for people, technical detail."""

    def __init__(self, problem, words, technical=None):
        Exception.__init__(self, words)
        self.problem = problem
        self.words = words
        self.technical = technical


async def read_reply(reader, stage):
    """One SMTP reply (RFC 5321 section 4.2): (code, lines), at most MAX_REPLY_LINES of MAX_LINE_BYTES each."""
    lines = []
    while len(lines) < MAX_REPLY_LINES:
        try:
            line = await reader.readuntil(b'\n')
        except asyncio.IncompleteReadError as exc:
            raise SmtpProblem('connect-failed', 'the server closed the connection %s' % stage,
                              'EOF after %d bytes of a reply line' % len(exc.partial))
        except asyncio.LimitOverrunError:
            raise SmtpProblem('connect-failed', 'the server sent a reply line longer than %d bytes %s' % (
                MAX_LINE_BYTES, stage))
        match = _REPLY_LINE.match(line)
        if not match:
            raise SmtpProblem('connect-failed', 'the server sent something that is not an SMTP reply %s' % stage,
                              'reply line starts %r' % line[:40])
        if lines and match.group(1) != lines[0][:3]:
            raise SmtpProblem('connect-failed', 'the server changed its reply code within one reply %s' % stage)
        lines.append(line.rstrip(b'\r\n'))
        if match.group(2) != b'-':
            return int(match.group(1)), [item[4:].decode('ascii', 'replace') for item in lines]
    raise SmtpProblem('connect-failed', 'the server sent more than %d reply lines %s' % (MAX_REPLY_LINES, stage))


async def _command(reader, writer, command, stage):
    writer.write(command + b'\r\n')
    await writer.drain()
    return await read_reply(reader, stage)


async def _starttls_session(mx_host, address, port, ssl_context, facts):
    """Banner, EHLO, STARTTLS, handshake; returns the writer (TLS) for the caller to close."""
    try:
        reader, writer = await asyncio.open_connection(address, port, limit=MAX_LINE_BYTES)
    except OSError as exc:
        raise SmtpProblem('connect-failed', connect_words(address, port, exc), os_error_detail(exc))
    try:
        code, _lines = await read_reply(reader, 'in its greeting')
        if code != 220:
            raise SmtpProblem('connect-failed', 'the server greets with %d instead of 220' % code)
        code, lines = await _command(reader, writer, b'EHLO ' + EHLO_NAME.encode('ascii'), 'after EHLO')
        if code != 250:
            raise SmtpProblem('connect-failed', 'the server answers EHLO with %d' % code)
        if not any(line.strip().upper().split(' ')[0] == 'STARTTLS' for line in lines[1:]):
            raise SmtpProblem('starttls-missing', 'the server does not announce STARTTLS')
        facts['starttls'] = True
        code, _lines = await _command(reader, writer, b'STARTTLS', 'after STARTTLS')
        if code != 220:
            raise SmtpProblem('tls-error', 'the server answers STARTTLS with %d instead of 220' % code)
        try:
            await writer.start_tls(ssl_context, server_hostname=mx_host)
        except (ssl.SSLError, ssl.CertificateError) as exc:
            outcome, words, technical = classify_tls_error(exc, mx_host)
            raise SmtpProblem(outcome, words, technical)
        except (ConnectionError, OSError) as exc:
            raise SmtpProblem('tls-error', 'the server closed the connection during the TLS handshake',
                              '%s: %s' % (exc.__class__.__name__, exc))
        return reader, writer
    except BaseException:
        writer.transport.abort()
        raise


async def check_starttls_async(mx_host, address, port, timeout, ssl_context):
    """Return TLS facts for one MX host: ``{address, port, starttls, tls_version, certificate, problem, error}``.

    ``problem`` is None when STARTTLS works with a valid certificate, else one of connect-failed,
    starttls-missing, cert-expired, cert-name-mismatch, cert-untrusted, tls-error, timeout; ``error`` says
    it in words, ``error_detail`` keeps what the protocol layer said.
    """
    facts = {'address': address, 'port': port, 'starttls': False, 'tls_version': None,
             'certificate': None, 'problem': None, 'error': None}
    started = time.monotonic()
    deadline = asyncio.get_running_loop().time() + timeout
    writer = None
    try:
        async with asyncio.timeout_at(deadline):
            try:
                reader, writer = await _starttls_session(mx_host, address, port, ssl_context, facts)
            except SmtpProblem as exc:
                if exc.problem == 'cert-name-mismatch':
                    certificate = await _unverified_certificate(mx_host, address, port)
                    facts['certificate'] = certificate
                    exc.words = name_mismatch_words(mx_host, certificate)
                return _problem(facts, exc.problem, exc.words, exc.technical)
            tls = writer.get_extra_info('ssl_object')
            facts['tls_version'] = tls.version()
            facts['certificate'] = certificate_facts(tls.getpeercert())
        await _quit(reader, writer, deadline)  # the verdict is in; a rude goodbye does not change it
        return facts
    except TimeoutError:
        return _problem(facts, 'timeout', 'no complete STARTTLS conversation within the timeout')
    finally:
        facts['elapsed'] = round(time.monotonic() - started, 3)
        if writer is not None:
            writer.transport.abort()


def check_starttls(mx_host, address, port, timeout, ssl_context):
    """``check_starttls_async`` for callers without an event loop: one loop for the call."""
    return asyncio.run(check_starttls_async(mx_host, address, port, timeout, ssl_context))


async def _quit(reader, writer, deadline):
    try:
        async with asyncio.timeout_at(min(deadline, asyncio.get_running_loop().time() + QUIT_SECONDS)):
            await _command(reader, writer, b'QUIT', 'after QUIT')
    except (TimeoutError, SmtpProblem, OSError):
        pass


async def _unverified_certificate(mx_host, address, port):
    """The certificate the MX host presents, read without trusting it, for a clear name-mismatch finding."""
    writer = None
    try:
        _reader, writer = await _starttls_session(mx_host, address, port, DIAGNOSTIC_CONTEXT, {})
        return der_certificate_facts(writer.get_extra_info('ssl_object').getpeercert(binary_form=True))
    except (SmtpProblem, OSError, ValueError):
        return None
    finally:
        if writer is not None:
            writer.transport.abort()


def _problem(facts, problem, words, technical=None):
    facts['problem'] = problem
    facts['error'] = clip(words, 300)
    if technical:
        facts['error_detail'] = clip(technical, 300)
    return facts
