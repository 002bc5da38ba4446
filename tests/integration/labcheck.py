# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Probes of the lab that do not use the audit module: DNS with dnspython, HTTPS and SMTP with ssl.

Used by test_lab_selfcheck.py to check that the lab serves what scenarios.py declares.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import smtplib
import socket
import ssl

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

# OpenSSL verify codes (X509_V_ERR_*)
CERT_HAS_EXPIRED = 10
UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
HOSTNAME_MISMATCH = 62


def dns_query(server, port, name, rtype, tcp=False):
    """(rcode text, set of answers of rtype at name) straight from the lab's BIND."""
    query = dns.message.make_query(name, rtype)
    query.flags &= ~dns.flags.RD
    if tcp:
        reply = dns.query.tcp(query, server, port=port, timeout=2)
    else:
        reply = dns.query.udp(query, server, port=port, timeout=2)
    wanted = dns.rdatatype.from_text(rtype)
    values = set()
    for rrset in reply.answer:
        if rrset.rdtype != wanted or rrset.name.to_text().rstrip('.').lower() != name.lower():
            continue
        for rdata in rrset:
            values.add(rdata_value(rdata))
    return dns.rcode.to_text(reply.rcode()), values


def rdata_value(rdata):
    """The lab's notation of one record: TXT as a tuple of strings, names lower case and absolute."""
    if rdata.rdtype == dns.rdatatype.TXT:
        return tuple(part.decode('utf-8') for part in rdata.strings)
    if rdata.rdtype == dns.rdatatype.MX:
        return '%d %s' % (rdata.preference, rdata.exchange.to_text().lower())
    if rdata.rdtype == dns.rdatatype.CNAME:
        return rdata.target.to_text().lower()
    return rdata.to_text()


def record_value(rtype, value):
    """The same notation for a record as scenarios.py declares it."""
    if rtype == 'TXT':
        return tuple(value)
    if rtype in ('MX', 'CNAME'):
        return value.lower()
    return value


def https_get(ip, host, ca_path, port=443, timeout=2.0, path='/.well-known/mta-sts.txt'):
    """One HTTP/1.0 GET over TLS to ip with SNI and certificate check for host.

    Returns {'status', 'headers', 'body', 'raw'}; raises ssl/socket errors as they come.
    """
    context = ssl.create_default_context(cafile=ca_path)
    with socket.create_connection((ip, port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(('GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' % (path, host)).encode('ascii'))
            data = b''
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, dummy, body = data.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    result = {'raw': data, 'status': None, 'headers': {}, 'body': body}
    if lines[0].startswith('HTTP/'):
        result['status'] = int(lines[0].split()[1])
        for line in lines[1:]:
            key, dummy, value = line.partition(':')
            result['headers'][key.strip().lower()] = value.strip()
    return result


class PinnedSMTP(smtplib.SMTP):
    """SMTP to a fixed IP address while the MX name is used for SNI and the certificate check."""

    def __init__(self, address, **kwargs):
        self._address = address
        smtplib.SMTP.__init__(self, **kwargs)

    def _get_socket(self, host, port, timeout):
        return socket.create_connection((self._address, port), timeout)


def smtp_probe(ip, mx_name, ca_path, port=25, timeout=3.0):
    """What an MTA-STS sender sees: 'ok', 'no-starttls', 'refused', 'tls-error' or 'cert:<verify code>'."""
    client = PinnedSMTP(ip, timeout=timeout)
    client._host = mx_name  # starttls() takes SNI and the name to check from here
    try:
        try:
            client.connect(mx_name, port)
        except ConnectionRefusedError:
            return 'refused'
        client.ehlo('lab-check.test')
        if not client.has_extn('starttls'):
            return 'no-starttls'
        try:
            client.starttls(context=ssl.create_default_context(cafile=ca_path))
        except ssl.SSLCertVerificationError as exc:
            return 'cert:%d' % exc.verify_code
        except (ssl.SSLError, ConnectionError):
            return 'tls-error'
        client.ehlo('lab-check.test')
        return 'ok'
    finally:
        try:
            client.close()
        except OSError:
            pass
