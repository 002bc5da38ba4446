# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""STARTTLS check of one MX host (RFC 8461 section 4.2): the certificate must be valid for the MX name.

No Ansible imports. The TCP connection goes to an address our resolver found; SNI and the name
check use the MX host name, as a sending MTA that applies an MTA-STS policy would.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import smtplib
import socket
import ssl
import time

from .clip import clip
from .deadline import REAPER
from .fetch import certificate_facts, classify_tls_error

EHLO_NAME = 'mta-sts-audit.invalid'


class _PinnedSMTP(smtplib.SMTP):
    """smtplib.SMTP that connects to a fixed address while ``_host`` stays the MX name (SNI, name check)."""

    def __init__(self, mx_host, address, timeout):
        self._pinned_address = address
        self._deadline = time.monotonic() + timeout
        self.reaper_handle = None
        smtplib.SMTP.__init__(self, timeout=timeout, local_hostname=EHLO_NAME)
        self._host = mx_host  # starttls() takes SNI and the name to check from here

    def _get_socket(self, host, port, timeout):
        sock = socket.create_connection((self._pinned_address, port), timeout)
        # The whole conversation shares one deadline: a server that drips its banner is cut off.
        self.reaper_handle = REAPER.watch(sock, self._deadline)
        return sock


def check_starttls(mx_host, address, port, timeout, ssl_context):
    """Return TLS facts for one MX host: ``{address, port, starttls, tls_version, certificate, problem, error}``.

    ``problem`` is None when STARTTLS works with a valid certificate, else one of connect-failed,
    starttls-missing, cert-expired, cert-name-mismatch, cert-untrusted, tls-error, timeout.
    """
    facts = {'address': address, 'port': port, 'starttls': False, 'tls_version': None,
             'certificate': None, 'problem': None, 'error': None}
    started = time.monotonic()
    client = _PinnedSMTP(mx_host, address, timeout)
    try:
        try:
            client.connect(mx_host, port)
            client.ehlo()
        except (OSError, smtplib.SMTPException) as exc:
            return _problem(facts, 'connect-failed', exc)
        if not client.has_extn('starttls'):
            return _problem(facts, 'starttls-missing', 'the server does not announce STARTTLS')
        facts['starttls'] = True
        try:
            client.starttls(context=ssl_context)
        except ssl.SSLError as exc:
            outcome, detail = classify_tls_error(exc)
            return _problem(facts, outcome, detail or exc)
        except (OSError, smtplib.SMTPException) as exc:
            return _problem(facts, 'tls-error', exc)
        facts['tls_version'] = client.sock.version()
        facts['certificate'] = certificate_facts(client.sock.getpeercert())
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            pass  # the verdict is in; a rude goodbye does not change it
        return facts
    finally:
        facts['elapsed'] = round(time.monotonic() - started, 3)
        if facts['problem'] and time.monotonic() >= client._deadline:
            facts['problem'] = 'timeout'
            facts['error'] = 'no complete STARTTLS conversation within the timeout'
        try:
            client.close()
        except OSError:
            pass
        if client.reaper_handle is not None:
            REAPER.forget(client.reaper_handle)


def _problem(facts, problem, detail):
    facts['problem'] = problem
    facts['error'] = clip(detail, 300)
    return facts
