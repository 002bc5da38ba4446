# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hostile servers for the audit: policy hosts and an authoritative DNS server that misbehave on purpose.

    python tests/lab/hostile.py serve --dir DIR          # foreground until SIGTERM (or --max-seconds)
    python tests/lab/hostile.py kinds                    # the table of kinds and the verdicts they must get
    python tests/lab/hostile.py audit --domains-file F --info DIR/hostile.json --out OUT.json
                                                         # the audit core (Auditor) in this process:
                                                         # verdicts, wall time, peak RSS, result sizes

Importable: ``HostileServers(root, ...)`` (or ``HostileDNS`` / ``HostileWeb`` alone, port 0 for any
free port) starts servers in this process (threads, joined by ``stop()``); ``start_process(root)`` /
``stop_process(info)`` run ``serve`` as a child process stopped by its PID; ``run_audit_process`` and
``measuring_interpreter`` measure the audit core and the audit module.

Every domain is ``<kind>-<n>.hostile.test`` (or ``<kind>.hostile.test``); the kind (see ``KINDS``)
says how its DNS answers and which policy host it points at, and what the audit must conclude. One
authoritative DNS server (dnspython, UDP and TCP) serves the whole zone; every web behaviour has an
HTTPS listener of its own on a loopback address, because some misbehave before the TLS handshake.

Only 127.0.0.0/8 is used: 127.66.<slot>.x, slot from MTA_STS_LAB_SLOT as for the lab. Every server loop
is bounded in count and time (a connection lives at most HANDLER_MAX_SECONDS, the process at most
--max-seconds). Needs the Python packages dnspython and trustme; port 443 (and 53) need root.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import functools
import heapq
import json
import os
import random
import re
import select
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import warnings
import zlib

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

SLOT = int(os.environ.get('MTA_STS_LAB_SLOT') or 0)
if not 0 <= SLOT <= 250:
    raise ValueError('MTA_STS_LAB_SLOT must be between 0 and 250, not %d' % SLOT)
NET = '127.66.%d.' % SLOT      # never anything outside 127.0.0.0/8
DNS_IP = NET + '53'
ZONE = 'hostile.test'
HTTPS_PORT = 443
DNS_PORT = 53
MX_IP = NET + '25'             # MX hosts point here; nothing listens (the audit only reads MX names)
RECORD_ID = '20240501h'
MAX_AGE = 604800
MAX_POLICY = 65536

HANDLER_MAX_SECONDS = 60.0     # no connection is served longer than this
MAX_CONNECTIONS = 1024         # concurrent HTTPS connections; more are closed at once
MAX_DNS_TCP = 256              # concurrent DNS-over-TCP connections
DRIP_INTERVAL = 1.0            # "one byte a second"
ENDLESS_LIMIT = 1 << 30        # bytes an endless body sends at most (1 GiB) within HANDLER_MAX_SECONDS
BIG_LINE = 10 * 1024 * 1024    # the single-line body
GZIP2_MIB = 2048               # the double-gzip body expands to 2 GiB
CERT_GROUP = 64                # policy host names per certificate (SANs), so 10,000 domains need few certs

# web behaviour -> last octet of its listener
WEB = {
    'good': 10, 'drip': 11, 'hang': 12, 'endless': 13, 'gzip': 14, 'redirect': 15, 'badutf8': 16, 'nul': 17,
    'bigline': 18, 'tls10': 19, 'nochain': 20, 'gzip2': 21, 'dripbody': 22, 'driptls': 23, 'headers': 24,
}


def web_ip(behaviour):
    return NET + str(WEB[behaviour])


def _kind(web='good', dns=None, policy=None, status='pass', codes=(), summary=''):
    return {'web': web, 'dns': dns, 'policy': policy, 'status': status, 'codes': list(codes), 'summary': summary}


# kind -> how it behaves and what the audit must say: status and codes that must be among the findings.
KINDS = {
    'good': _kind(summary='complete and correct: TXT, enforce policy over HTTPS, covered MX, TLS-RPT'),
    # policy hosts
    'webdrip': _kind(web='drip', status='fail', codes=['policy-timeout'],
                     summary='the HTTP response comes one byte a second'),
    'webdripbody': _kind(web='dripbody', status='fail', codes=['policy-timeout'],
                         summary='headers at once, then the body one byte a second'),
    'webdriptls': _kind(web='driptls', status='fail', codes=['policy-timeout'],
                        summary='the TLS handshake answer comes one byte a second'),
    'webhang': _kind(web='hang', status='fail', codes=['policy-timeout'],
                     summary='accepts TCP and never sends a byte'),
    'webendless': _kind(web='endless', status='fail', codes=['policy-too-large'],
                        summary='a body without end (no Content-Length)'),
    'webgzip': _kind(web='gzip', status='fail', codes=['policy-too-large'],
                     summary='Content-Encoding gzip, a stream that inflates without end (1 KiB -> 1 MiB each)'),
    'webgzip2': _kind(web='gzip2', status='fail', codes=['policy-too-large'],
                      summary='Content-Encoding "gzip, gzip": about 10 KiB that expand to 2 GiB'),
    'webredirect': _kind(web='redirect', status='fail', codes=['policy-redirect'],
                         summary='301 to the policy URL itself (a redirect loop)'),
    'webbadutf8': _kind(web='badutf8', status='fail', codes=['policy-encoding'],
                        summary='the policy holds bytes that are not UTF-8'),
    'webnul': _kind(web='nul', status='fail', codes=['policy-syntax'],
                    summary='the policy holds NUL bytes'),
    'webbigline': _kind(web='bigline', status='fail', codes=['policy-too-large'],
                        summary='a 10 MB body that is one single line'),
    'webtls10': _kind(web='tls10', status='fail', codes=['policy-tls-error'],
                      summary='the policy host offers TLS 1.0 and 1.1 only'),
    'webnochain': _kind(web='nochain', status='fail', codes=['policy-cert-untrusted'],
                        summary='the certificate chain lacks its intermediate CA'),
    'webheaders': _kind(web='headers', status='fail', codes=['policy-http-error'],
                        summary='response headers without end'),
    # DNS
    'dnstc': _kind(dns='tc', summary='every UDP answer is truncated (TC); the full answer comes over TCP'),
    'dnsbigtxt': _kind(dns='bigtxt', codes=['txt-ignored'],
                       summary='a TXT RRset of about 64 KiB at _mta-sts (the STS record among junk)'),
    'dnstcdrip': _kind(dns='tcdrip', status='unknown', codes=['txt-lookup-failed', 'mx-lookup-failed'],
                       summary='UDP truncated, TCP answers one byte a second'),
    'dnscnameloop': _kind(dns='cnameloop', status='unknown', codes=['txt-lookup-failed'],
                          summary='_mta-sts is a CNAME loop, one hop per answer'),
    'dnscnameloopmsg': _kind(dns='cnameloopmsg', status='unknown', codes=['txt-lookup-failed'],
                             summary='_mta-sts is a CNAME loop, the whole loop in every answer'),
    'dnscnamechain': _kind(dns='cnamechain', status='unknown', codes=['txt-lookup-failed'],
                           summary='_mta-sts is a chain of 20 CNAMEs, one hop per answer'),
    'dnscnamechainmsg': _kind(dns='cnamechainmsg', status='unknown', codes=['txt-lookup-failed'],
                              summary='_mta-sts is a chain of 20 CNAMEs, the whole chain in one answer'),
    'dnscnameshort': _kind(dns='cnameshort', summary='_mta-sts is a chain of 3 CNAMEs (within every limit)'),
    'dnsslowchain': _kind(dns='slowchain', status='unknown', codes=['txt-lookup-failed'],
                          summary='_mta-sts is a chain of 6 CNAMEs, each answer 1.5 s late (10.5 s in all)'),
    'dnscnamepolicy': _kind(dns='cnamepolicy', status='unknown', codes=['policy-host-lookup-failed'],
                            summary='mta-sts.<domain> is a CNAME loop'),
    'dnsservfail': _kind(dns='servfail', status='unknown', codes=['mx-lookup-failed', 'txt-lookup-failed'],
                         summary='every answer is SERVFAIL'),
    'dnsrefused': _kind(dns='refused', status='unknown', codes=['mx-lookup-failed', 'txt-lookup-failed'],
                        summary='every answer is REFUSED'),
    'dnssilent': _kind(dns='silent', status='unknown', codes=['mx-lookup-failed', 'txt-lookup-failed'],
                       summary='no answer at all, over UDP or TCP'),
    'dnsgarbage': _kind(dns='garbage', status='unknown', codes=['mx-lookup-failed', 'txt-lookup-failed'],
                        summary='answers with bytes that are not a DNS message'),
    'dnswrongname': _kind(dns='wrongname', status='fail', codes=['txt-missing', 'policy-host-missing'],
                          summary='the answer section holds records of another name (valid ones)'),
    'dnswrongq': _kind(dns='wrongq', status='unknown', codes=['txt-lookup-failed'],
                       summary='the answer is for another question'),
    # data that would be expensive to report in full
    'mxflood': _kind(dns='mxflood', policy='mxflood', status='fail', codes=['mx-not-covered'],
                     summary='mxflood-<n>: n MX hosts (2,900 fill 64 KiB over TCP), a 64 KiB policy covering none'),
    'mxtlsa': _kind(dns='mxtlsa', policy='wildcard', codes=[],
                    summary='mxtlsa-<n>: n MX hosts (at most 2,900) covered by *.<domain>; TLSA lookups get no answer'),
    'manylines': _kind(policy='manylines', status='fail', codes=['policy-syntax'],
                       summary='a 64 KiB policy of 32,000 lines that are not "key: value"'),
    # data is data
    'jinja': _kind(dns='jinja', policy='jinja', codes=['txt-ignored'],
                   summary='Jinja expressions in a TXT record, the TLS-RPT record and the policy'),
}
JINJA = u"{{ lookup('pipe', 'id') }}"


def domain_name(kind, n=None):
    return '%s.%s' % (kind if n is None else '%s-%d' % (kind, n), ZONE)


def kind_of(domain):
    """The kind of a domain of the zone (``webdrip-3.hostile.test`` -> ``webdrip``), or None."""
    domain = domain.rstrip('.').lower()
    if not domain.endswith('.' + ZONE):
        return None
    label = domain[:-len(ZONE) - 1]
    if '.' in label:
        return None
    kind = label.split('-', 1)[0]
    return kind if kind in KINDS else None


def expected(domain):
    kind = KINDS[kind_of(domain)]
    return kind['status'], kind['codes']


# ---------------------------------------------------------------------------------------------------
# what the zone holds

def policy_body(domain):
    """The policy text (bytes) served for ``domain``: correct unless its kind says otherwise."""
    kind = KINDS.get(kind_of(domain) or 'good')
    head = 'version: STSv1\nmode: enforce\n'
    tail = 'max_age: %d\n' % MAX_AGE
    if kind['policy'] == 'mxflood':
        lines = []
        size = len(head) + len(tail)
        n = 0
        while True:
            line = 'mx: p%05d.%s\n' % (n, domain)
            if size + len(line) > MAX_POLICY - 16:
                break
            lines.append(line)
            size += len(line)
            n += 1
        return (head + ''.join(lines) + tail).encode('ascii')
    if kind['policy'] == 'wildcard':
        return (head + 'mx: *.%s\n' % domain + tail).encode('ascii')
    if kind['policy'] == 'manylines':
        head += 'mx: mx1.%s\n' % domain
        count = (MAX_POLICY - 64 - len(head) - len(tail)) // 2
        return (head + 'x\n' * count + tail).encode('ascii')
    body = head + 'mx: mx1.%s\n' % domain + tail
    if kind['policy'] == 'jinja':
        body += 'x-note: %s\n' % JINJA
    return body.encode('utf-8')


def sts_record(domain):
    return 'v=STSv1; id=%s;' % RECORD_ID


def tlsrpt_record(domain):
    return 'v=TLSRPTv1; rua=mailto:tlsrpt@%s' % domain


MX_FLOOD_COUNT = 2900
CNAME_CHAIN_LONG = 20
CNAME_CHAIN_SHORT = 3
SLOW_CHAIN = 6
SLOW_DELAY = 1.5               # seconds each answer of the slow chain is held back
MAX_DELAYED = 10000            # delayed UDP answers waiting at once; more are dropped
_CHAIN_LENGTHS = {'cnamechain': CNAME_CHAIN_LONG, 'cnamechainmsg': CNAME_CHAIN_LONG, 'cnameshort': CNAME_CHAIN_SHORT,
                  'slowchain': SLOW_CHAIN}


def _records(domain, rel, kind):
    """{rdtype: [rdata text]} at ``rel`` (relative to ``domain``); None when the name does not exist."""
    dns_kind = kind['dns']
    if rel == '':
        if dns_kind in ('mxflood', 'mxtlsa'):
            return {'MX': ['10 m%04d.%s.' % (n, domain) for n in range(flood_count(domain))]}
        return {'MX': ['10 mx1.%s.' % domain]}
    if rel == 'mx1' and dns_kind == 'private-mx':
        return {'A': ['10.0.0.25'], 'AAAA': ['fd00::25']}
    if rel == 'mx1' or (dns_kind in ('mxflood', 'mxtlsa') and re.match(r'^m[0-9]{4}$', rel)):
        return {'A': [mx_address(kind)]}
    if rel == '_mta-sts':
        texts = [sts_record(domain)]
        if dns_kind == 'bigtxt':
            texts += ['junk-%03d-%s' % (n, 'x' * 246) for n in range(238)]
        if dns_kind == 'jinja':
            texts.append(JINJA)
        return {'TXT': texts}
    if rel == 'mta-sts':
        if dns_kind in PRIVATE_POLICY_HOSTS:
            return PRIVATE_POLICY_HOSTS[dns_kind]
        return {'A': [web_ip(kind['web'])]}
    if rel == '_smtp._tls':
        if dns_kind == 'jinja':
            return {'TXT': ['v=TLSRPTv1; rua=mailto:%s@%s' % (JINJA, domain)]}
        return {'TXT': [tlsrpt_record(domain)]}
    return None


def flood_count(domain):
    """MX hosts of an mxflood or mxtlsa domain: its number, at most MX_FLOOD_COUNT (``mxflood-500``: 500)."""
    label = domain.split('.', 1)[0]
    number = label.split('-', 1)[1] if '-' in label else ''
    return min(int(number), MX_FLOOD_COUNT) if number.isdigit() and int(number) > 0 else MX_FLOOD_COUNT


def _cname_target(domain, rel, dns_kind):
    """The CNAME at ``rel`` for the CNAME kinds, or None."""
    if dns_kind in ('cnameloop', 'cnameloopmsg'):
        loop = {'_mta-sts': 'loop1', 'loop1': 'loop2', 'loop2': 'loop1'}
        return loop.get(rel)
    if dns_kind == 'cnamepolicy':
        return {'mta-sts': 'ploop1', 'ploop1': 'ploop2', 'ploop2': 'ploop1'}.get(rel)
    if dns_kind in _CHAIN_LENGTHS:
        length = _CHAIN_LENGTHS[dns_kind]
        if rel == '_mta-sts':
            return 'c1'
        if rel.startswith('c') and rel[1:].isdigit() and int(rel[1:]) < length:
            return 'c%d' % (int(rel[1:]) + 1)
    return None


def _split(qname_text):
    """``_mta-sts.webdrip-1.hostile.test`` -> (``webdrip-1.hostile.test``, ``_mta-sts``), or (None, None)."""
    name = qname_text.rstrip('.').lower()
    if not name.endswith('.' + ZONE):
        return None, None
    labels = name[:-len(ZONE) - 1].split('.')
    return '%s.%s' % (labels[-1], ZONE), '.'.join(labels[:-1])


# ---------------------------------------------------------------------------------------------------
# connections in threads, shared by the DNS server (its TCP side) and the HTTPS and SMTP servers

class _ConnectionThreads(object):
    """Each accepted connection handled in a thread of its own while one of ``limit`` slots is free; a server
    with every slot taken closes new connections at once. Call ``_init_connections`` in ``__init__``."""

    def _init_connections(self, limit):
        self._stop = threading.Event()
        self._slots = threading.BoundedSemaphore(limit)
        self._handlers = set()
        self._lock = threading.Lock()
        self.connections = 0

    def _accept_each(self, listener, handle, name, *args):
        """Until stopped: accept on ``listener`` and run ``handle(conn, *args)``, which must call ``_done()``."""
        while not self._stop.is_set():
            try:
                conn = listener.accept()[0]
            except socket.timeout:
                continue
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                conn.close()
                continue
            thread = threading.Thread(target=handle, args=(conn,) + args, name=name, daemon=True)
            with self._lock:
                self._handlers.add(thread)
                self.connections += 1
            thread.start()

    def _done(self):
        """The end of a handler thread: its slot free again."""
        self._slots.release()
        with self._lock:
            self._handlers.discard(threading.current_thread())


# ---------------------------------------------------------------------------------------------------
# the DNS server

class HostileDNS(_ConnectionThreads):
    """Authoritative for hostile.test over UDP and TCP on one loopback address; misbehaves per kind."""

    def __init__(self, ip=DNS_IP, port=DNS_PORT, slow_delay=SLOW_DELAY):
        self.ip = ip
        self.port = port
        self.slow_delay = slow_delay
        self._init_connections(MAX_DNS_TCP)
        self._threads = []
        self._delayed = []            # (due, sequence, wire, peer), a heap
        self._delayed_ready = threading.Condition()
        self._sequence = 0
        self.queries = 0

    # -- answers ---------------------------------------------------------------------------------

    def answer(self, wire, tcp):
        """The response to one query: wire bytes, ``None`` for silence, ('drip', wire) or ('delay', wire)."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if len(query.question) != 1:
            return None
        with self._lock:
            self.queries += 1
        question = query.question[0]
        qname = question.name
        rdtype = question.rdtype
        domain, rel = _split(qname.to_text())
        kind_name = kind_of(domain) if domain else None
        kind = KINDS.get(kind_name) if kind_name else None
        dns_kind = kind['dns'] if kind else None

        if dns_kind == 'silent' or (dns_kind == 'mxtlsa' and rel.startswith('_25._tcp.')):
            return None
        if dns_kind == 'garbage':
            return bytes(bytearray(random.getrandbits(8) for _byte in range(64)))
        big_mx = dns_kind in ('mxflood', 'mxtlsa') and rel == '' and rdtype == dns.rdatatype.MX
        if (dns_kind in ('tc', 'tcdrip') or big_mx) and not tcp:  # big_mx: too big for UDP, say so at once
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA | dns.flags.TC
            return response.to_wire()

        asked = query
        if dns_kind == 'wrongq':
            asked = dns.message.make_query('elsewhere.%s' % ZONE, rdtype)
            asked.id = query.id
            asked.flags = query.flags
        response = dns.message.make_response(asked)
        response.flags |= dns.flags.AA
        if dns_kind == 'servfail':
            response.set_rcode(dns.rcode.SERVFAIL)
            return self._wire(query, response, tcp)
        if dns_kind == 'refused' or (domain is None and qname.to_text().rstrip('.').lower() != ZONE):
            response.set_rcode(dns.rcode.REFUSED)
            return self._wire(query, response, tcp)

        soa = dns.rrset.from_text(ZONE + '.', 60, 'IN', 'SOA',
                                  'ns.%s. hostmaster.%s. 1 3600 600 86400 60' % (ZONE, ZONE))
        if domain is None:  # the apex
            if rdtype == dns.rdatatype.SOA:
                response.answer.append(soa)
            else:
                response.authority.append(soa)
            return self._wire(query, response, tcp)
        if kind is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(soa)
            return self._wire(query, response, tcp)

        if dns_kind == 'wrongname':
            # valid-looking data, but owned by another name than the one asked for
            data = _records(domain, rel, KINDS['good'])
            values = (data or {}).get(dns.rdatatype.to_text(rdtype))
            if values:
                response.answer.append(_rrset('elsewhere.%s.' % ZONE, rdtype, values))
            else:
                response.authority.append(soa)
            return self._wire(query, response, tcp)

        # CNAMEs: one hop per answer, or the whole chain at once
        whole_chain = dns_kind in ('cnameloopmsg', 'cnamechainmsg')
        current = rel
        seen = 0
        while True:
            target = _cname_target(domain, current, dns_kind)
            if target is None or rdtype == dns.rdatatype.CNAME:
                break
            owner = '%s.%s.' % (current, domain) if current else domain + '.'
            response.answer.append(_rrset(owner, dns.rdatatype.CNAME, ['%s.%s.' % (target, domain)]))
            current = target
            seen += 1
            if not whole_chain or seen >= 64:
                break
        if not response.answer or whole_chain:
            self._add_data(response, domain, current, kind, rdtype, soa)
        wire = self._wire(query, response, tcp)
        if dns_kind == 'tcdrip' and tcp:
            return ('drip', wire)
        if dns_kind == 'slowchain' and (rel == '_mta-sts' or re.match(r'^c[0-9]+$', rel)):
            return ('delay', wire)
        return wire

    @staticmethod
    def _add_data(response, domain, rel, kind, rdtype, soa):
        """The records of ``rel`` (or NXDOMAIN / NODATA) into ``response``, after any CNAMEs already there."""
        data = _chain_end(domain, rel, kind['dns'])
        if data is None:
            data = _records(domain, rel, kind)
        if data is None:
            if not response.answer:
                response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(soa)
            return
        values = data.get(dns.rdatatype.to_text(rdtype))
        if values:
            owner = '%s.%s.' % (rel, domain) if rel else domain + '.'
            response.answer.append(_rrset(owner, rdtype, values))
        elif not response.answer:
            response.authority.append(soa)

    @staticmethod
    def _wire(query, response, tcp):
        limit = 65535 if tcp else (query.payload if query.edns >= 0 else 512)
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            response.answer = []
            response.authority = []
            response.additional = []
            response.flags |= dns.flags.TC
            return response.to_wire(max_size=limit)

    # -- transport -------------------------------------------------------------------------------

    def start(self):
        """Bind UDP and TCP on the same port; port 0 picks a free one (``self.port`` tells which)."""
        for _attempt in range(20 if self.port == 0 else 1):
            self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._udp.bind((self.ip, self.port))
            port = self._udp.getsockname()[1]
            self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self._tcp.bind((self.ip, port))
                break
            except OSError:
                self._udp.close()
                self._tcp.close()
                if self.port != 0:
                    raise
        else:
            raise OSError('no port free for both UDP and TCP on %s' % self.ip)
        self.port = port
        try:  # room for bursts of queries (root may exceed rmem_max)
            self._udp.setsockopt(socket.SOL_SOCKET, getattr(socket, 'SO_RCVBUFFORCE', socket.SO_RCVBUF), 8 << 20)
        except OSError:
            self._udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self._udp.settimeout(0.5)
        self._tcp.listen(128)
        self._tcp.settimeout(0.5)
        for target in (self._serve_udp, self._serve_tcp, self._send_delayed):
            thread = threading.Thread(target=target, name='hostile-dns', daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self):
        self._stop.set()
        with self._delayed_ready:
            self._delayed_ready.notify_all()
        with self._lock:
            handlers = list(self._handlers)
        for thread in self._threads + handlers:
            thread.join(timeout=5)
        self._udp.close()
        self._tcp.close()

    def _serve_udp(self):
        while not self._stop.is_set():
            try:
                wire, peer = self._udp.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                reply = self.answer(wire, tcp=False)
            except Exception as exc:  # a bug here must not stop the server; the client times out
                print('hostile-dns: %s: %s' % (type(exc).__name__, exc), file=sys.stderr)
                continue
            if isinstance(reply, tuple) and reply[0] == 'delay':
                with self._delayed_ready:
                    if len(self._delayed) < MAX_DELAYED:
                        self._sequence += 1
                        heapq.heappush(self._delayed, (time.monotonic() + self.slow_delay, self._sequence, reply[1], peer))
                        self._delayed_ready.notify()
            elif isinstance(reply, bytes):
                try:
                    self._udp.sendto(reply, peer)
                except OSError:
                    pass

    def _send_delayed(self):
        while not self._stop.is_set():
            with self._delayed_ready:
                if not self._delayed:
                    self._delayed_ready.wait(0.5)
                    continue
                delay = self._delayed[0][0] - time.monotonic()
                if delay > 0:
                    self._delayed_ready.wait(min(delay, 0.5))
                    continue
                _due, _seq, wire, peer = heapq.heappop(self._delayed)
            try:
                self._udp.sendto(wire, peer)
            except OSError:
                pass

    def _serve_tcp(self):
        self._accept_each(self._tcp, self._tcp_connection, 'hostile-dns-tcp')

    def _tcp_connection(self, conn):
        deadline = time.monotonic() + 30.0
        try:
            conn.settimeout(1.0)
            for _n in range(64):  # messages per connection
                header = _recv_exact(conn, 2, deadline, self._stop)
                if header is None:
                    return
                wire = _recv_exact(conn, struct.unpack('!H', header)[0], deadline, self._stop)
                if wire is None:
                    return
                reply = self.answer(wire, tcp=True)
                if reply is None:
                    _hold(conn, deadline, self._stop)  # silence: keep the connection, never answer
                    return
                if isinstance(reply, tuple) and reply[0] == 'drip':
                    _drip(conn, struct.pack('!H', len(reply[1])) + reply[1], deadline, self._stop)
                    return
                if isinstance(reply, tuple):
                    if self._stop.wait(self.slow_delay):
                        return
                    reply = reply[1]
                conn.sendall(struct.pack('!H', len(reply)) + reply)
        except OSError:
            pass
        finally:
            conn.close()
            self._done()


def _rrset(owner, rdtype, values):
    if isinstance(rdtype, str):
        rdtype = dns.rdatatype.from_text(rdtype)
    return _cached_rrset(owner, rdtype, tuple(values))


@functools.lru_cache(maxsize=256)
def _cached_rrset(owner, rdtype, values):  # building 2,900 MX records takes a tenth of a second
    if rdtype == dns.rdatatype.TXT:
        values = ['"%s"' % v.replace('\\', '\\\\').replace('"', '\\"') for v in values]
    return dns.rrset.from_text_list(owner, 60, 'IN', rdtype, values)


def _chain_end(domain, rel, dns_kind):
    """What the last name of a CNAME chain holds (the STS record); None for every other name."""
    if dns_kind in _CHAIN_LENGTHS:
        if rel == 'c%d' % _CHAIN_LENGTHS[dns_kind]:
            return {'TXT': [sts_record(domain)]}
    return None


# ---------------------------------------------------------------------------------------------------
# socket helpers, each bounded by a deadline and the stop event

def _recv_exact(conn, count, deadline, stop):
    data = b''
    while len(data) < count:
        if stop.is_set() or time.monotonic() > deadline:
            return None
        try:
            chunk = conn.recv(count - len(data))
        except socket.timeout:
            continue
        if not chunk:
            return None
        data += chunk
    return data


def _hold(conn, deadline, stop):
    """Keep a connection open, sending nothing, until the peer closes it, the deadline or the stop."""
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            readable = select.select([conn], [], [], 0.5)[0]
            if readable and not conn.recv(4096):
                return
        except (OSError, ValueError):
            return


def _drip(conn, data, deadline, stop, interval=DRIP_INTERVAL):
    """Send ``data`` one byte per ``interval`` until done, the peer leaves, the deadline or the stop."""
    for index in range(len(data)):
        if stop.is_set() or time.monotonic() > deadline:
            return
        try:
            conn.sendall(data[index:index + 1])
        except OSError:
            return
        if stop.wait(interval):
            return


def _send(conn, data):
    try:
        conn.sendall(data)
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------------
# bodies that cost the server nothing to send

_MIB = 1 << 20


def gzip_pieces():
    """(head, segment): a gzip stream of zeros as a head plus identical 1 MiB segments (full flushes)."""
    zeros = bytes(_MIB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    segment = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert segment == again  # after a full flush the compressor has no memory: segments repeat
    return head, segment


def gzip_of_zeros(mib):
    """A complete gzip member of ``mib`` MiB of zeros, built from repeated segments (about 1 KiB per MiB)."""
    head, segment = gzip_pieces()
    zeros = bytes(_MIB)
    crc = 0
    for _n in range(mib):
        crc = zlib.crc32(zeros, crc)
    # an empty final fixed-Huffman block, then CRC32 and ISIZE (RFC 1952)
    return head + segment * (mib - 1) + b'\x03\x00' + struct.pack('<II', crc, (mib * _MIB) & 0xffffffff)


def double_gzip_bomb(mib=GZIP2_MIB):
    """gzip(gzip(zeros)): about 10 KiB on the wire, ``mib`` MiB once both layers are decoded."""
    inner = gzip_of_zeros(mib)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    return compressor.compress(inner) + compressor.flush()


# ---------------------------------------------------------------------------------------------------
# the policy hosts

class _Certificates(object):
    """Certificates issued on demand: one per CERT_GROUP policy host names (SANs), from an intermediate CA."""

    def __init__(self, root):
        import trustme

        self.root = root
        self.ca = trustme.CA(organization_name='hostile lab root')
        self.intermediate = self.ca.create_child_ca()
        self.ca_path = os.path.join(root, 'hostile-ca.pem')
        self.ca.cert_pem.write_to_path(self.ca_path)
        self._contexts = {}
        self._lock = threading.Lock()
        self.default = self._leaf_files('default', ['mta-sts.unknown.%s' % ZONE])

    def _leaf_files(self, key, names, chain=True):
        leaf = self.intermediate.issue_cert(*names)
        cert_path = os.path.join(self.root, 'cert-%s.pem' % key)
        key_path = os.path.join(self.root, 'key-%s.pem' % key)
        pems = leaf.cert_chain_pems if chain else leaf.cert_chain_pems[:1]
        with open(cert_path, 'wb') as handle:
            for blob in pems:
                handle.write(blob.bytes())
        leaf.private_key_pem.write_to_path(key_path)
        return cert_path, key_path

    def names_for(self, host):
        """The SAN group of a policy host name: (group key, names), or (None, None) for unknown names."""
        host = (host or '').lower()
        if not host.startswith('mta-sts.'):
            return None, None
        domain = host[len('mta-sts.'):]
        kind = kind_of(domain)
        if kind is None:
            return None, None
        label = domain[:-len(ZONE) - 1]
        number = label.split('-', 1)[1] if '-' in label else ''
        if number and not number.isdigit():
            return None, None
        group = int(number) // CERT_GROUP if number else 0
        names = ['mta-sts.%s' % domain_name(kind, n) for n in range(group * CERT_GROUP, (group + 1) * CERT_GROUP)]
        if group == 0:
            names.append('mta-sts.%s' % domain_name(kind))
        return '%s-%d' % (kind, group), names

    def context(self, profile, host):
        key, names = self.names_for(host)
        with self._lock:
            cached = self._contexts.get((profile, key))
            if cached is not None:
                return cached
            if key is None:
                cert_path, key_path = self.default
            else:
                cert_path, key_path = self._leaf_files('%s-%s' % (profile, key), names, chain=(profile != 'nochain'))
            context = server_context(profile)
            context.load_cert_chain(cert_path, key_path)
            self._contexts[(profile, key)] = context
            return context


def server_context(profile):
    """A server TLS context: ``legacy`` offers TLS 1.0 and 1.1 only (Debian's OpenSSL needs SECLEVEL 0)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if profile == 'legacy':
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        context.set_ciphers('DEFAULT:@SECLEVEL=0')
    return context


class _Listeners(_ConnectionThreads):
    """One listener per behaviour on its own loopback address, a thread per connection; ``stop()`` joins them.

    Subclasses set ``name``, ``backlog`` and ``address(behaviour)`` and serve a connection in ``_connection``.
    """

    name = 'hostile'
    backlog = 128

    def __init__(self, port, behaviours):
        self.port = port
        self.ports = {}     # behaviour -> port it listens on (differ only when port is 0)
        self.behaviours = list(behaviours)
        self._init_connections(MAX_CONNECTIONS)
        self._listeners = []
        self._threads = []

    def start(self):
        for behaviour in self.behaviours:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.address(behaviour), self.port))
            self.ports[behaviour] = listener.getsockname()[1]
            listener.listen(self.backlog)
            listener.settimeout(0.5)
            self._listeners.append(listener)
            thread = threading.Thread(target=self._accept, args=(listener, behaviour),
                                      name='%s-%s' % (self.name, behaviour), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        with self._lock:
            handlers = list(self._handlers)
        for thread in handlers:
            thread.join(timeout=5)
        for listener in self._listeners:
            listener.close()

    def _accept(self, listener, behaviour):
        self._accept_each(listener, self._connection, self.name, behaviour)


class HostileWeb(_Listeners):
    """One HTTPS listener per web behaviour; the policy served depends on the host name asked for."""

    name = 'hostile-web'
    backlog = 512

    def __init__(self, root, port=HTTPS_PORT, behaviours=None):
        _Listeners.__init__(self, port, behaviours or WEB)
        self.root = root
        self.certs = _Certificates(root)
        self.ca_path = self.certs.ca_path
        self._gzip_head, self._gzip_segment = gzip_pieces()
        self._gzip2 = b''
        self._gzip2_ready = threading.Event()
        if 'gzip2' in self.behaviours:
            threading.Thread(target=self._make_gzip2, name='hostile-gzip2', daemon=True).start()
        else:
            self._gzip2_ready.set()
        self._base = {}
        for profile in ('modern', 'legacy', 'nochain'):
            self._base[profile] = self._base_context(profile)

    def _make_gzip2(self):
        self._gzip2 = double_gzip_bomb()
        self._gzip2_ready.set()

    def _base_context(self, profile):
        """The context a handshake starts with; SNI then switches to the certificate of the name asked for."""
        def choose(sslobj, server_name, _context):
            sslobj.context = self.certs.context(profile, server_name)

        context = server_context(profile)
        context.load_cert_chain(*self.certs.default)
        context.sni_callback = choose
        return context

    def address(self, behaviour):
        return web_ip(behaviour)

    def _connection(self, conn, behaviour):
        deadline = time.monotonic() + HANDLER_MAX_SECONDS
        sockets = [conn]
        try:
            conn.settimeout(1.0)
            self._serve(conn, behaviour, deadline, sockets)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            for sock in reversed(sockets):
                try:
                    sock.close()
                except OSError:
                    pass
            self._done()

    def _serve(self, conn, behaviour, deadline, sockets):
        stop = self._stop
        if behaviour == 'hang':
            _hold(conn, deadline, stop)
            return
        if behaviour == 'driptls':
            # read the ClientHello, then a handshake record header announcing 16 KiB, then one byte a second
            select.select([conn], [], [], 5.0)
            conn.recv(16384)
            _drip(conn, b'\x16\x03\x03\x40\x00' + b'\x02' * 200, deadline, stop)
            return
        profile = {'tls10': 'legacy', 'nochain': 'nochain'}.get(behaviour, 'modern')
        conn.settimeout(10.0)
        tls = self._base[profile].wrap_socket(conn, server_side=True)
        sockets.append(tls)
        tls.settimeout(1.0)
        request = _read_request(tls, deadline, stop)
        if request is None:
            return
        host = _header(request, b'host') or ''
        domain = host[len('mta-sts.'):] if host.startswith('mta-sts.') else host
        body = policy_body(domain)
        if behaviour == 'drip':
            response = _response(200, body)
            _drip(tls, response[:120], deadline, stop)
        elif behaviour == 'dripbody':
            response = _response(200, body)
            head, _sep, rest = response.partition(b'\r\n\r\n')
            if _send(tls, head + b'\r\n\r\n'):
                _drip(tls, rest, deadline, stop)
        elif behaviour == 'endless':
            line = b'mx: endless.' + domain.encode('ascii', 'replace') + b'\n'
            block = line * (65536 // len(line))
            if _send(tls, _head(200, None)):
                _stream(tls, block, ENDLESS_LIMIT, deadline, stop)
        elif behaviour == 'gzip':
            if _send(tls, _head(200, None, extra=[b'Content-Encoding: gzip'])) and _send(tls, self._gzip_head):
                _stream(tls, self._gzip_segment * 64, ENDLESS_LIMIT // 64, deadline, stop)
        elif behaviour == 'gzip2':
            self._gzip2_ready.wait(30)
            _send(tls, _head(200, len(self._gzip2), extra=[b'Content-Encoding: gzip, gzip']) + self._gzip2)
        elif behaviour == 'redirect':
            location = b'https://' + host.encode('ascii', 'replace') + b'/.well-known/mta-sts.txt'
            _send(tls, _head(301, 0, extra=[b'Location: ' + location]))
        elif behaviour == 'badutf8':
            _send(tls, _response(200, body + b'x-note: \xff\xfe\xc3\x28 not UTF-8\n'))
        elif behaviour == 'nul':
            _send(tls, _response(200, body.replace(b'mode: enforce\n', b'mode: enforce\x00\x00\n') + b'\x00\n'))
        elif behaviour == 'bigline':
            if _send(tls, _head(200, BIG_LINE)):
                _stream(tls, b'x' * 65536, BIG_LINE, deadline, stop)
        elif behaviour == 'headers':
            if _send(tls, b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n'):
                block = b''.join(b'X-Flood-%05d: %s\r\n' % (n, b'y' * 100) for n in range(500))
                _stream(tls, block, 64 * _MIB, deadline, stop)
        else:  # good, tls10, nochain: a correct answer (the TLS layer is what is wrong)
            _send(tls, _response(200, body))


def _read_request(tls, deadline, stop):
    data = b''
    while b'\r\n\r\n' not in data:
        if stop.is_set() or time.monotonic() > deadline or len(data) > 16384:
            return None
        try:
            chunk = tls.recv(4096)
        except socket.timeout:
            continue
        if not chunk:
            return None
        data += chunk
    return data


def _header(request, name):
    for line in request.split(b'\r\n')[1:]:
        key, sep, value = line.partition(b':')
        if sep and key.strip().lower() == name:
            return value.strip().decode('ascii', 'replace').split(':')[0]
    return None


def _head(status, length, extra=(), content_type=b'text/plain'):
    reason = {200: b'OK', 301: b'Moved Permanently'}.get(status, b'Status')
    lines = [b'HTTP/1.1 %d %s' % (status, reason), b'Content-Type: ' + content_type, b'Connection: close']
    if length is not None:
        lines.append(b'Content-Length: %d' % length)
    lines.extend(extra)
    return b'\r\n'.join(lines) + b'\r\n\r\n'


def _response(status, body, extra=()):
    return _head(status, len(body), extra) + body


def _stream(conn, block, limit, deadline, stop):
    sent = 0
    while sent < limit and not stop.is_set() and time.monotonic() < deadline:
        if not _send(conn, block):
            return
        sent += len(block)


# ---------------------------------------------------------------------------------------------------
# hostile MX hosts (SMTP): the audit's STARTTLS check (check_mx_tls) must stay bounded in time and memory

SMTP_PORT = 25
SMTP_LINE_LIMIT = 256 * _MIB       # bytes a flooding SMTP server sends at most within HANDLER_MAX_SECONDS

# SMTP behaviour -> last octet of its listener
SMTP = {'flood250': 30, 'flood220': 31, 'dripbanner': 32, 'garbagetls': 33, 'silent': 34, 'longline': 35}

# kind -> its MX host mx1.<domain> points at the SMTP listener of the behaviour; verdicts with check_mx_tls
SMTP_KINDS = {
    'smtpflood250': _kind(dns='smtp-flood250', status='fail', codes=['mx-connect-failed'],
                          summary='MX host answers EHLO with endless "250-" continuation lines'),
    'smtpflood220': _kind(dns='smtp-flood220', status='fail', codes=['mx-connect-failed'],
                          summary='MX host greets with endless "220-" continuation lines'),
    'smtpdripbanner': _kind(dns='smtp-dripbanner', status='fail', codes=['mx-connect-failed'],
                            summary='MX host sends its greeting one byte a second'),
    'smtpgarbagetls': _kind(dns='smtp-garbagetls', status='fail', codes=['mx-tls-error'],
                            summary='MX host says 220 to STARTTLS, then sends bytes that are not TLS'),
    'smtpsilent': _kind(dns='smtp-silent', status='fail', codes=['mx-connect-failed'],
                        summary='MX host accepts TCP and never sends a byte'),
    'smtplongline': _kind(dns='smtp-longline', status='fail', codes=['mx-connect-failed'],
                          summary='MX host sends a greeting line without end'),
}
KINDS.update(SMTP_KINDS)


# ---------------------------------------------------------------------------------------------------
# private addresses: DNS that points the audit at loopback, link-local, private or unspecified addresses.
# Audited with allow_private_addresses false only (the default): nothing of them may be contacted, and
# since the lab itself is on loopback, every policy host here is refused as well.

PRIVATE_POLICY_HOSTS = {   # dns kind -> the records of mta-sts.<domain>
    'private-loopback': {'A': ['127.0.0.1']},
    'private-unspecified': {'A': ['0.0.0.0']},
    'private-v6loopback': {'AAAA': ['::1']},
    'private-metadata': {'A': ['169.254.169.254']},
    'private-rfc1918': {'A': ['10.0.0.1', '192.168.1.1']},
    'private-ula': {'AAAA': ['fd00::443']},
    'private-mapped': {'AAAA': ['::ffff:127.0.0.1']},
    'private-multicast': {'A': ['224.0.0.1']},
}
PRIVATE_KINDS = dict(
    [('priv%s' % dns_kind.split('-', 1)[1], _kind(
        dns=dns_kind, status='fail', codes=['policy-host-private-address'],
        summary='mta-sts.<domain> resolves to %s' % ', '.join(sum(PRIVATE_POLICY_HOSTS[dns_kind].values(), []))))
     for dns_kind in PRIVATE_POLICY_HOSTS]
    + [('privmx', _kind(dns='private-mx', status='fail', codes=['policy-host-private-address', 'mx-private-address'],
                        summary='its MX host resolves to 10.0.0.25 and fd00::25 (with check_mx_tls)'))])
KINDS.update(PRIVATE_KINDS)


def smtp_ip(behaviour):
    return NET + str(SMTP[behaviour])


def mx_address(kind):
    """The address of mx1.<domain>: an SMTP listener for the SMTP kinds, else MX_IP where nothing listens."""
    dns_kind = kind['dns'] or ''
    return smtp_ip(dns_kind[len('smtp-'):]) if dns_kind.startswith('smtp-') else MX_IP


class HostileSMTP(_Listeners):
    """One SMTP listener per behaviour (threads, like HostileWeb); ``stop()`` joins them."""

    name = 'hostile-smtp'

    def __init__(self, port=SMTP_PORT, behaviours=None):
        _Listeners.__init__(self, port, behaviours or SMTP)

    def address(self, behaviour):
        return smtp_ip(behaviour)

    def _connection(self, conn, behaviour):
        deadline = time.monotonic() + HANDLER_MAX_SECONDS
        try:
            conn.settimeout(1.0)
            self._serve(conn, behaviour, deadline)
        except (OSError, ValueError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass
            self._done()

    def _serve(self, conn, behaviour, deadline):
        stop = self._stop
        if behaviour == 'silent':
            _hold(conn, deadline, stop)
        elif behaviour == 'dripbanner':
            _drip(conn, b'220 mx.hostile.test ESMTP drip\r\n', deadline, stop)
        elif behaviour == 'flood220':
            _stream(conn, b''.join(b'220-flood %06d %s\r\n' % (n, b'z' * 60) for n in range(800)),
                    SMTP_LINE_LIMIT, deadline, stop)
        elif behaviour == 'longline':
            if _send(conn, b'220 '):
                _stream(conn, b'x' * 65536, SMTP_LINE_LIMIT, deadline, stop)
        elif _send(conn, b'220 mx.hostile.test ESMTP\r\n') and _smtp_line(conn, deadline, stop):
            if behaviour == 'flood250':
                if _send(conn, b'250-mx.hostile.test\r\n'):
                    _stream(conn, b''.join(b'250-FLOOD%06d %s\r\n' % (n, b'y' * 60) for n in range(800)),
                            SMTP_LINE_LIMIT, deadline, stop)
            elif behaviour == 'garbagetls':
                if _send(conn, b'250-mx.hostile.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n') and \
                        _smtp_line(conn, deadline, stop) and _send(conn, b'220 go ahead\r\n'):
                    _smtp_line(conn, deadline, stop, limit=512)  # the ClientHello, or part of it
                    _stream(conn, b'\x00garbage, not TLS\r\n' * 512, 16 * _MIB, deadline, stop)


def _smtp_line(conn, deadline, stop, limit=4096):
    """Read until a line ends (or ``limit`` bytes arrived); False when the peer left."""
    data = b''
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            chunk = conn.recv(1024)
        except socket.timeout:
            continue
        if not chunk:
            return False
        data += chunk
        if b'\n' in data or len(data) >= limit:
            return True
    return False


# ---------------------------------------------------------------------------------------------------
# everything together, in this process or as a child process

class HostileServers(object):
    """The DNS server and every policy host, in threads of this process; ``stop()`` joins them."""

    def __init__(self, root, https_port=HTTPS_PORT, dns_port=DNS_PORT, behaviours=None, smtp_port=SMTP_PORT,
                 dns=True):
        self.root = os.path.abspath(root)
        os.makedirs(self.root, exist_ok=True)
        self.web = HostileWeb(self.root, port=https_port, behaviours=behaviours)
        self.dns = HostileDNS(DNS_IP, dns_port) if dns else None  # dns=False: it runs elsewhere, on dns_port
        self.dns_port = dns_port
        self.smtp = HostileSMTP(port=smtp_port)

    def start(self):
        if self.dns is not None:
            self.dns.start()
        try:
            self.web.start()
            self.smtp.start()
        except Exception:
            self.web.stop()
            if self.dns is not None:
                self.dns.stop()
            raise
        return self.info()

    def stop(self):
        self.smtp.stop()
        self.web.stop()
        if self.dns is not None:
            self.dns.stop()

    def info(self):
        return {'pid': os.getpid(), 'root': self.root, 'ca_path': self.web.ca_path, 'nameserver': DNS_IP,
                'dns_port': self.dns.port if self.dns is not None else self.dns_port, 'https_port': self.web.port,
                'https_ports': dict(self.web.ports), 'net': NET,
                'smtp_port': self.smtp.port, 'smtp_ports': dict(self.smtp.ports),
                'zone': ZONE}

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def _dns_process(dns_port, conn, max_seconds):
    """The DNS server alone, in a process of its own (see ``serve``); sends its port, then its query count."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it
    try:
        os.nice(-10)  # as the bench lab's servers: on a busy machine the DNS server answers before the audit runs
    except OSError:
        pass  # not root: the default priority
    dns_server = HostileDNS(DNS_IP, dns_port).start()
    conn.send(dns_server.port)
    stopping.wait(max_seconds)
    dns_server.stop()
    conn.send(dns_server.queries)


def serve(root, https_port=HTTPS_PORT, dns_port=DNS_PORT, max_seconds=3600.0):
    """Run until SIGTERM, SIGINT or ``max_seconds``; writes ROOT/hostile.json once everything listens.

    The DNS server runs in a process of its own, as it would on its own machine: the policy hosts that stream
    bombs and floods must not starve it of this process's interpreter lock (its answers would come late for
    reasons no real DNS server has).
    """
    import multiprocessing
    parent_end, child_end = multiprocessing.Pipe()
    dns_process = multiprocessing.get_context('fork').Process(
        target=_dns_process, args=(dns_port, child_end, max_seconds + 30), name='hostile-dns', daemon=True)
    dns_process.start()  # before any thread of this process exists
    if not parent_end.poll(30):
        dns_process.kill()
        raise RuntimeError('the hostile DNS server did not start')
    dns_port = parent_end.recv()
    servers = HostileServers(root, https_port=https_port, dns_port=dns_port, dns=False)
    try:
        info = servers.start()
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
        signal.signal(signal.SIGINT, lambda signum, frame: stopping.set())
        path = os.path.join(servers.root, 'hostile.json')
        with open(path + '.tmp', 'w') as handle:
            json.dump(info, handle)
        os.rename(path + '.tmp', path)
        print('hostile servers ready: DNS %s:%d, HTTPS on %sN:%d' % (DNS_IP, dns_port, NET, https_port), flush=True)
        stopping.wait(max_seconds)
        servers.stop()
    finally:
        dns_process.terminate()
        queries = parent_end.recv() if parent_end.poll(10) else None
        dns_process.join(10)
    print('hostile servers stopped (%s DNS queries, %d HTTPS connections)' % (
        queries, servers.web.connections), flush=True)


def start_process(root, https_port=HTTPS_PORT, dns_port=DNS_PORT, max_seconds=3600.0, timeout=30.0):
    """Start ``serve`` as a child process; returns ROOT/hostile.json plus the child's Popen as ``process``."""
    root = os.path.abspath(root)
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, 'hostile.json')
    if os.path.exists(path):
        os.remove(path)
    log = open(os.path.join(root, 'hostile.log'), 'ab')
    argv = [sys.executable, os.path.abspath(__file__), 'serve', '--dir', root, '--https-port', str(https_port),
            '--dns-port', str(dns_port), '--max-seconds', str(max_seconds)]
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, close_fds=True)
    log.close()
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process({'process': process})
            with open(os.path.join(root, 'hostile.log'), 'rb') as handle:
                tail = handle.read()[-3000:].decode('utf-8', 'replace')
            raise RuntimeError('the hostile servers did not start (exit %s):\n%s' % (process.poll(), tail))
        time.sleep(0.05)
    with open(path) as handle:
        info = json.load(handle)
    info['process'] = process
    return info


def stop_process(info, timeout=15.0):
    """Stop the child started by start_process, by its PID: SIGTERM, then SIGKILL after ``timeout``."""
    process = info['process']
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.returncode


# ---------------------------------------------------------------------------------------------------
# the audit core, measured, in a process of its own

def audit(domains, info, timeout, concurrency, out_path, check_mx_tls=False, allow_private_addresses=True):
    """Audit ``domains`` with the collection's Auditor; writes a summary with wall time and peak RSS."""
    import resource

    from ansible_collections.mailsec.mta_sts.plugins.module_utils.audit import AuditOptions, Auditor

    options = AuditOptions(nameservers=[info['nameserver']], dns_port=info['dns_port'], ca_path=info['ca_path'],
                           timeout=timeout, concurrency=concurrency, check_mx_tls=check_mx_tls,
                           allow_private_addresses=allow_private_addresses)
    started = time.monotonic()
    results = Auditor(options).audit_domains(domains)
    wall = time.monotonic() - started
    summary = []
    for result in results:
        size = len(json.dumps(result, default=str))
        summary.append({'input': result['input'], 'domain': result['domain'], 'status': result['status'],
                        'codes': sorted(set(f['code'] for f in result['findings'])), 'json_bytes': size,
                        'fetch_elapsed': (result.get('policy') or {}).get('elapsed')})
    report = {'wall': wall, 'maxrss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
              'threads_left': threading.active_count(), 'results': summary}
    with open(out_path, 'w') as handle:
        json.dump(report, handle)


def collection_pythonpath(workdir):
    """A directory holding ansible_collections/mailsec/mta_sts for the checkout this file belongs to."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parts = repo.split(os.sep)
    if parts[-3:-1] == ['ansible_collections', 'mailsec']:
        return os.sep.join(parts[:-3])
    namespace = os.path.join(workdir, 'collections', 'ansible_collections', 'mailsec')
    os.makedirs(namespace, exist_ok=True)
    link = os.path.join(namespace, 'mta_sts')
    if not os.path.exists(link):
        os.symlink(repo, link)
    return os.path.join(workdir, 'collections')


def run_audit_process(domains, info, workdir, timeout=2.0, concurrency=64, name='audit', limit=600,
                      check_mx_tls=False, allow_private_addresses=True):
    """Run ``audit`` (the Auditor) in a child process; returns its report (wall, maxrss_kb, results).

    ``process_wall`` is the child's whole life: threads the audit leaves working keep a process from ending.
    """
    domains_path = os.path.join(workdir, '%s-domains.json' % name)
    out_path = os.path.join(workdir, '%s-report.json' % name)
    info_path = os.path.join(workdir, '%s-info.json' % name)
    with open(domains_path, 'w') as handle:
        json.dump(domains, handle)
    with open(info_path, 'w') as handle:
        json.dump(dict((k, v) for k, v in info.items() if k != 'process'), handle)
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([collection_pythonpath(workdir)] + [p for p in [env.get('PYTHONPATH')] if p])
    argv = [sys.executable, os.path.abspath(__file__), 'audit', '--domains-file', domains_path, '--info', info_path,
            '--timeout', str(timeout), '--concurrency', str(concurrency), '--out', out_path]
    argv += ['--check-mx-tls'] if check_mx_tls else []
    argv += [] if allow_private_addresses else ['--deny-private-addresses']
    started = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=limit, check=False)
    process_wall = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError('the audit process failed (rc=%d):\n%s' % (proc.returncode, proc.stderr[-4000:]))
    with open(out_path) as handle:
        report = json.load(handle)
    report['process_wall'] = process_wall
    return report


_MEASURING_INTERPRETER = '''#!%(python)s
# Runs %(python)s with the given arguments and appends its wall time and peak RSS to %(log)s.
import json, os, sys, time
started = time.monotonic()
pid = os.fork()
if pid == 0:
    os.execv(%(python)r, [%(python)r] + sys.argv[1:])
_pid, status, usage = os.wait4(pid, 0)
with open(%(log)r, 'a') as handle:
    handle.write(json.dumps({'argv': sys.argv[1:], 'wall': time.monotonic() - started,
                             'maxrss_kb': usage.ru_maxrss, 'status': status}) + '\\n')
sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, 'waitstatus_to_exitcode') else status >> 8)
'''


def measuring_interpreter(directory):
    """Write an interpreter for ansible_python_interpreter that records each module process's wall time and RSS.

    Returns (interpreter path, log path); ``module_measurements(log, 'audit')`` reads the records back.
    """
    path = os.path.join(directory, 'measuring-python')
    log = os.path.join(directory, 'measuring-python.jsonl')
    with open(path, 'w') as handle:
        handle.write(_MEASURING_INTERPRETER % {'python': sys.executable, 'log': log})
    os.chmod(path, 0o755)
    return path, log


def module_measurements(log, module):
    """The records of the runs of one module (by its AnsiballZ file name) from a measuring interpreter's log."""
    records = []
    if not os.path.exists(log):
        return records
    with open(log) as handle:
        for line in handle:
            record = json.loads(line)
            if any(os.path.basename(arg) == 'AnsiballZ_%s.py' % module for arg in record['argv']):
                records.append(record)
    return records


def kinds_table():
    rows = [('kind', 'web', 'dns', 'status', 'codes', 'summary')]
    for name in sorted(KINDS):
        kind = KINDS[name]
        rows.append((name, kind['web'], kind['dns'] or '-', kind['status'], ' '.join(kind['codes']) or '-',
                     kind['summary']))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return '\n'.join('  '.join(c.ljust(w) for c, w in zip(r[:5], widths)) + '  ' + r[5] for r in rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    sub = parser.add_subparsers(dest='command', required=True)
    p_serve = sub.add_parser('serve')
    p_serve.add_argument('--dir', required=True)
    p_serve.add_argument('--https-port', type=int, default=HTTPS_PORT)
    p_serve.add_argument('--dns-port', type=int, default=DNS_PORT)
    p_serve.add_argument('--max-seconds', type=float, default=3600.0)
    p_audit = sub.add_parser('audit')
    p_audit.add_argument('--domains-file', required=True, help='JSON list of domains')
    p_audit.add_argument('--info', required=True, help='the hostile.json of running servers')
    p_audit.add_argument('--timeout', type=float, default=2.0)
    p_audit.add_argument('--concurrency', type=int, default=64)
    p_audit.add_argument('--out', required=True)
    p_audit.add_argument('--check-mx-tls', action='store_true')
    p_audit.add_argument('--deny-private-addresses', action='store_true',
                         help='allow_private_addresses false (the lab is on loopback: every host is refused)')
    sub.add_parser('kinds')
    args = parser.parse_args(argv)
    if args.command == 'serve':
        serve(args.dir, args.https_port, args.dns_port, args.max_seconds)
    elif args.command == 'audit':
        with open(args.domains_file) as handle:
            domains = json.load(handle)
        with open(args.info) as handle:
            info = json.load(handle)
        audit(domains, info, args.timeout, args.concurrency, args.out, check_mx_tls=args.check_mx_tls,
              allow_private_addresses=not args.deny_private_addresses)
    else:
        print(kinds_table())
    return 0


if __name__ == '__main__':
    sys.exit(main())
