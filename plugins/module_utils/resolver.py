# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DNS lookups for the audit on asyncio, through dnspython, with answers sorted into what the verdict needs.

No Ansible imports. A lookup never raises: it returns a Lookup whose ``outcome`` is
``answer``, ``nxdomain`` or ``nodata`` (authoritative answers), or ``error`` (SERVFAIL,
REFUSED, timeout, malformed answers: no answer the verdict may rely on).

A lost datagram must not change a verdict: a UDP query left unanswered is sent again, to the next
nameserver in turn, until the lookup's deadline (RFC 1035 section 4.2.1, RFC 1536 section 1: retransmit,
rotate servers); an answer to any of the copies counts. The first interval adapts to the round-trip
times seen (RFC 6298's smoothed RTT and variance, samples only from queries sent once, backed off after
a timeout until the next sample), between MIN_RETRANSMIT_INTERVAL and RETRANSMIT_INTERVAL, and doubles
with each copy, so a slow or congested server is not flooded. A truncated answer is
asked again over TCP (RFC 7766 section 5); SERVFAIL, REFUSED or a malformed answer sends the query to
the next server at once. One deadline bounds the whole lookup, CNAME hops included.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import collections
import re
import secrets
import socket
import struct
import time

from .clip import clip
from .dnsanswer import read_answer, wire_of

try:
    import dns.exception
    import dns.flags
    import dns.inet
    import dns.message
    import dns.name
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype
    import dns.resolver
    HAS_DNSPYTHON = True
except ImportError:
    HAS_DNSPYTHON = False

MAX_CNAME_HOPS = 8
RETRANSMIT_INTERVAL = 1.0      # at most this long before an unanswered UDP query is sent again
MIN_RETRANSMIT_INTERVAL = 0.2  # never sooner than this
EDNS_PAYLOAD = 1232            # the DNS flag day 2020 size; larger answers come over TCP
BIG_ANSWER = 16384             # octets of a TCP answer parsed in a thread
# Lookups of one client on the network at once; more wait their turn, and a lookup's timeout starts when
# it is sent (as a resolver's queue does): 10,000 domains must not become one burst that a slow server
# answers after everyone's deadline.
MAX_INFLIGHT = 256


class Lookup(object):
    """The outcome of one lookup: ``records`` holds text for TXT, (preference, host) for MX, addresses for A/AAAA."""

    __slots__ = ('name', 'rdtype', 'outcome', 'records', 'error', 'cname_chain')

    def __init__(self, name, rdtype, outcome, records=None, error=None, cname_chain=None):
        self.name = name
        self.rdtype = rdtype
        self.outcome = outcome
        self.records = records or []
        self.error = error
        self.cname_chain = cname_chain or []

    @property
    def ok(self):
        return self.outcome == 'answer'

    @property
    def authoritative(self):
        return self.outcome != 'error'

    def as_evidence(self):
        evidence = {'name': self.name, 'type': self.rdtype, 'outcome': self.outcome}
        if self.error:
            evidence['error'] = self.error
        if self.cname_chain:
            evidence['cname_chain'] = list(self.cname_chain)
        return evidence


class DnsClient(object):
    """One resolver setup shared by every lookup of an audit run; lookups are coroutines on the caller's loop."""

    def __init__(self, nameservers=None, port=53, timeout=5.0, max_inflight=None):
        if not HAS_DNSPYTHON:
            raise RuntimeError('dnspython is required')
        if nameservers:
            self.nameservers = list(nameservers)
        else:
            self.nameservers = list(dns.resolver.Resolver().nameservers)  # /etc/resolv.conf
        for address in self.nameservers:
            dns.inet.af_for_address(address)  # ValueError for anything but an IP address
        self.port = int(port)
        self.timeout = float(timeout)
        # short timeouts still leave room for three copies
        self.max_retransmit = max(MIN_RETRANSMIT_INTERVAL, min(RETRANSMIT_INTERVAL, self.timeout / 3.0))
        self._srtt = None
        self._rttvar = None
        self._backoff = 1  # RFC 6298 section 5.5: a timeout backs the interval off until the next sample
        self.max_inflight = max_inflight or MAX_INFLIGHT
        self._slots = (None, None)  # (loop, semaphore): a semaphore belongs to one event loop

    @property
    def retransmit(self):
        """Seconds before the first copy of a query is sent again: srtt + 4 rttvar (RFC 6298 section 2), bounded."""
        if self._srtt is None:
            return self.max_retransmit
        # A server slower than timeout/3 is congested, not lossy: copies would only lengthen its queue.
        return max(MIN_RETRANSMIT_INTERVAL, min(RETRANSMIT_INTERVAL, (self._srtt + 4 * self._rttvar) * self._backoff))

    def _sample(self, rtt):
        """RFC 6298 section 2.2/2.3: alpha 1/8, beta 1/4."""
        self._backoff = 1
        if self._srtt is None:
            self._srtt, self._rttvar = rtt, rtt / 2.0
        else:
            self._rttvar = 0.75 * self._rttvar + 0.25 * abs(self._srtt - rtt)
            self._srtt = 0.875 * self._srtt + 0.125 * rtt

    def deadline(self, deadline=None):
        """The monotonic time a lookup started now must end by: ``timeout`` from now, or ``deadline`` if sooner."""
        own = time.monotonic() + self.timeout
        return own if deadline is None else min(own, deadline)

    # -- lookups --------------------------------------------------------------------------------

    async def lookup(self, name, rdtype, deadline=None):
        """Resolve ``name``/``rdtype``, following CNAMEs across zones (an authoritative server only gives the first hop)."""
        async with self._slot():
            return await self._lookup(name, rdtype, deadline)

    async def _lookup(self, name, rdtype, deadline=None):
        deadline = self.deadline(deadline)
        allowed = max(0.0, deadline - time.monotonic())
        chain = []
        original = wire_name(name)
        qname = original
        wanted = dns.rdatatype.from_text(rdtype)
        # The deadline bounds the whole lookup: CNAME hops share it instead of getting one timeout each.
        while True:
            response, error = await self._exchange(Query(qname, wanted), self.nameservers, deadline)
            if response is None:
                return Lookup(name, rdtype, 'error', error=error or 'timeout after %.1fs' % allowed, cname_chain=chain)
            hops = len(chain)
            found, qname, problem = _follow(response, qname, wanted, original, chain)
            if problem:
                return Lookup(name, rdtype, 'error', error=problem, cname_chain=chain)
            if response.rcode() == dns.rcode.NXDOMAIN:
                return Lookup(name, rdtype, 'nxdomain', cname_chain=chain)
            if found is not None:
                return Lookup(name, rdtype, 'answer', _records(found, rdtype), cname_chain=chain)
            if len(chain) == hops:
                return Lookup(name, rdtype, 'nodata', cname_chain=chain)
            # no data for the last target in this answer: ask for it (it may live in another zone)

    async def query_server(self, address, name, rdtype, deadline=None):
        """Ask one server directly, without recursion, as a consistency check between authoritative servers does."""
        async with self._slot():
            return await self._query_server(address, name, rdtype, deadline)

    async def _query_server(self, address, name, rdtype, deadline=None):
        deadline = self.deadline(deadline)
        allowed = max(0.0, deadline - time.monotonic())
        qname = wire_name(name)
        wanted = dns.rdatatype.from_text(rdtype)
        try:
            response, error = await self._exchange(Query(qname, wanted, recursion=False), [address], deadline)
        except ValueError as exc:  # not an IP address
            return Lookup(name, rdtype, 'error', error='%s: %s' % (address, _short(exc)))
        if response is None:
            return Lookup(name, rdtype, 'error', error=error or '%s: timeout after %.1fs' % (address, allowed))
        if response.rcode() == dns.rcode.NXDOMAIN:
            return Lookup(name, rdtype, 'nxdomain')
        found = response.records(qname.lower(), wanted)
        if found is not None:
            return Lookup(name, rdtype, 'answer', _records(found, rdtype))
        return Lookup(name, rdtype, 'nodata')

    async def zone_of(self, name, deadline=None):
        """The zone apex that holds ``name`` (walking up with SOA queries), or None when no answer says."""
        async with self._slot():
            return await self._zone_of(name, deadline)

    async def _zone_of(self, name, deadline=None):
        deadline = self.deadline(deadline)
        qname = dns.name.from_text(name)
        while True:
            # RFC 2308 section 3: the SOA of a negative answer is in the authority section, so parse it all
            response, _error = await self._exchange(Query(qname.to_wire(), dns.rdatatype.SOA, answer_only=False),
                                                    self.nameservers, deadline)
            if response is None:
                return None
            if response.get_rrset(response.answer, qname, dns.rdataclass.IN, dns.rdatatype.SOA) is not None:
                return qname.to_text(omit_final_dot=True)
            # RFC 2308 section 3: a negative answer carries the SOA of the zone it comes from
            for rrset in response.authority:
                if rrset.rdtype == dns.rdatatype.SOA and qname.is_subdomain(rrset.name):
                    return rrset.name.to_text(omit_final_dot=True)
            if qname == dns.name.root:
                return None
            qname = qname.parent()

    def _slot(self):
        loop = asyncio.get_running_loop()
        if self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.max_inflight))
        return self._slots[1]

    # -- sync wrappers for modules and filters ---------------------------------------------------

    def lookup_sync(self, name, rdtype):
        return asyncio.run(self.lookup(name, rdtype))

    def query_server_sync(self, address, name, rdtype):
        return asyncio.run(self.query_server(address, name, rdtype))

    def zone_of_sync(self, name):
        return asyncio.run(self.zone_of(name))

    # -- one exchange ----------------------------------------------------------------------------

    async def _exchange(self, query, servers, deadline):
        """Send ``query`` until a server gives a usable answer or the deadline: (response, None) or (None, reason).

        A usable answer is NOERROR or NXDOMAIN. Servers that answered anything else (SERVFAIL, REFUSED,
        malformed, another question) are not asked again; when none is left, the reasons are the error.
        One socket per address family and exchange: a fresh source port for every query (RFC 5452
        section 9.2).
        """
        loop = asyncio.get_running_loop()
        failed = {}
        sockets = {}
        asked = set(servers)
        attempt = 0
        interval = self.retransmit
        first_sent = None
        try:
            while True:
                live = [server for server in servers if server not in failed]
                if not live:
                    return None, '; '.join('%s %s' % item for item in failed.items())
                now = time.monotonic()
                if now >= deadline:
                    return None, None
                server = live[attempt % len(live)]
                attempt += 1
                family = dns.inet.af_for_address(server)
                sock = sockets.get(family)
                if sock is None:
                    sock = sockets[family] = _Datagrams(loop, family)
                try:
                    sock.sendto(query.wire, (server, self.port))
                except BlockingIOError:
                    pass  # the send buffer is full: as good as a lost datagram, the next copy follows
                except OSError as exc:
                    failed[server] = 'unreachable (%s)' % _short(exc)
                    continue
                first_sent = first_sent or now
                resend_at = min(deadline, now + interval)
                interval = min(2 * interval, max(self.max_retransmit, interval))  # back off: fewer copies
                response = await self._receive(query, sock, asked, resend_at, deadline, failed)
                if response is not None:
                    if attempt == 1:  # Karn: a sample only from a query sent once
                        self._sample(time.monotonic() - first_sent)
                    return response, None
                if server not in failed and time.monotonic() < deadline:
                    # no answer in time: congestion or loss; every lookup of this client waits longer now
                    self._backoff = min(2 * self._backoff, 16)
        finally:
            for sock in sockets.values():
                sock.close()

    async def _receive(self, query, sock, asked, resend_at, deadline, failed):
        """Wait until ``resend_at`` for a usable answer from one of the servers asked; None to send again."""
        while True:
            remaining = resend_at - time.monotonic()
            if remaining <= 0:
                return None
            received = await sock.receive(remaining)
            if received is None:
                return None
            data, source = received
            server = source[0]
            if server not in asked or source[1] != self.port or not query.answered_by(data):
                # not from a server we asked, or a late answer meant for the previous owner of this port,
                # or a forgery: ignore it (RFC 5452 section 9.1: only answers to the question asked, with its ID)
                continue
            if query.truncated(data):
                response = await self._tcp(query, server, deadline, failed)
                if response is None:
                    return None
            else:
                try:
                    response = query.parse(data)
                except Exception as exc:  # dnsanswer.AnswerError, or one of dnspython's many kinds
                    failed[server] = 'sent a malformed answer (%s)' % _short(exc)
                    return None
            rcode = response.rcode()
            if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                return response
            failed[server] = 'answered %s' % dns.rcode.to_text(rcode)
            return None  # RFC 1035 section 7.2: try the next server

    async def _tcp(self, query, server, deadline, failed):
        """The whole answer over TCP (RFC 7766 section 5, RFC 1035 section 4.2.2 framing), within the deadline.

        A big answer (thousands of records, each name decompressed) takes tens of milliseconds or more to
        read: it is read in a thread, so the event loop, and every other domain's timers, keep running meanwhile.
        """
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        writer = None
        try:
            async with asyncio.timeout(remaining):
                reader, writer = await asyncio.open_connection(server, self.port)
                writer.write(len(query.wire).to_bytes(2, 'big') + query.wire)
                length = int.from_bytes(await reader.readexactly(2), 'big')
                data = await reader.readexactly(length)
                if not query.answered_by(data):
                    failed[server] = 'answered another question over TCP'
                    return None
                if length > BIG_ANSWER:
                    return await asyncio.to_thread(query.parse, data)
                return query.parse(data)
        except TimeoutError:
            failed[server] = 'timeout over TCP after %.1fs' % remaining
        except asyncio.IncompleteReadError:
            failed[server] = 'closed the TCP connection before the whole answer'
        except OSError as exc:
            failed[server] = 'failed over TCP (%s)' % _short(exc.strerror or type(exc).__name__)
        except Exception as exc:  # dnspython raises many kinds for malformed wire data
            failed[server] = 'sent a malformed answer over TCP (%s)' % _short(exc or type(exc).__name__)
        finally:
            if writer is not None:
                writer.transport.abort()
        return None


class _Datagrams(object):
    """A non-blocking UDP socket read from the event loop's reader callback, without a transport object.

    At most MAX_QUEUED datagrams wait to be read: a server flooding the port costs only its own lookup.
    """

    MAX_QUEUED = 32

    def __init__(self, loop, family):
        self._loop = loop
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._queue = collections.deque(maxlen=self.MAX_QUEUED)
        self._waiter = None
        loop.add_reader(self._sock.fileno(), self._readable)

    def sendto(self, data, address):
        self._sock.sendto(data, address)

    def _readable(self):
        for _attempt in range(self.MAX_QUEUED):
            try:
                self._queue.append(self._sock.recvfrom(65535))
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue  # an ICMP error for one copy; the next copy may get through
        if self._queue and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def receive(self, timeout):
        """(data, source) of the next datagram, or None when none came within ``timeout`` seconds."""
        if not self._queue:
            self._waiter = self._loop.create_future()
            try:
                async with asyncio.timeout(timeout):
                    await self._waiter
            except TimeoutError:
                return None
            finally:
                self._waiter = None
        return self._queue.popleft()

    def close(self):
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()


class Query(object):
    """One question on the wire (RFC 1035 section 4.1) with an EDNS(0) OPT record (RFC 6891 section 6.1.2).

    Built by hand, not as a dnspython Message: the audit sends six of them per domain, and rendering a
    Message costs fifteen times as much. Answers are matched on the raw bytes (ID, QR, the question) and
    only then read: a lookup's answer section by dnsanswer.read_answer, a whole message by dnspython.
    """

    __slots__ = ('wire', 'question', 'rdtype', 'answer_only')

    _OPT = b'\x00' + struct.pack('!HHIH', 41, EDNS_PAYLOAD, 0, 0)  # root, OPT, payload size, version 0, no flags

    def __init__(self, qname, rdtype, recursion=True, answer_only=True):
        """``qname``: the name in uncompressed wire form (dnspython's ``Name.to_wire()``)."""
        self.rdtype = int(rdtype)
        self.answer_only = answer_only
        # RFC 5452 section 9.2: an unpredictable ID; RD unless a server is asked about its own zone only
        header = struct.pack('!HHHHHH', secrets.randbits(16), 0x0100 if recursion else 0, 1, 0, 0, 1)
        self.question = qname + struct.pack('!HH', self.rdtype, dns.rdataclass.IN)
        self.wire = header + self.question + self._OPT

    def answered_by(self, data):
        """RFC 5452 section 9.1: our ID, the QR bit, one question and it is ours (names compared case-insensitively)."""
        end = 12 + len(self.question)
        if len(data) < end or data[:2] != self.wire[:2] or not data[2] & 0x80 or data[4:6] != b'\x00\x01':
            return False
        # the question's name is never compressed (nothing precedes it to point at), so the bytes compare
        return data[12:end - 4].lower() == self.question[:-4].lower() and data[end - 4:end] == self.question[-4:]

    @staticmethod
    def truncated(data):
        return bool(data[2] & 0x02)  # TC (RFC 1035 section 4.1.1)

    def parse(self, data):
        """A lookup's answer (dnsanswer.Answer: the RCODE and the answer section), or the whole dnspython Message.

        What a lookup decides on is the RCODE and the answer section (CNAMEs included); the authority and
        additional sections (NS, SOA, glue, OPT) are left unread. Without the OPT record the RCODE is its
        low four bits, which is all a version-0 query is answered with.
        """
        if self.answer_only:
            return read_answer(data, len(self.question), self.rdtype)
        return dns.message.from_wire(data)


_PLAIN_LABEL = re.compile(r'^[A-Za-z0-9_-]{1,63}$')


def wire_name(name):
    """``name`` in uncompressed wire form; plain host names directly, anything else (escapes, IDNA) by dnspython."""
    labels = name[:-1].split('.') if name.endswith('.') else name.split('.')
    if len(name) < 254 and all(_PLAIN_LABEL.match(label) for label in labels):
        return wire_of([label.encode('ascii') for label in labels])
    return dns.name.from_text(name).to_wire()


def _follow(answer, qname, wanted, original, chain):
    """Follow the CNAMEs of one answer from ``qname`` (wire form): (records or None, last name, problem or None)."""
    name = qname
    while True:
        found = answer.records(name.lower(), wanted)
        if found is not None:
            return found, name, None
        cname = answer.records(name.lower(), dns.rdatatype.CNAME)
        if cname is None or wanted == dns.rdatatype.CNAME:
            return None, name, None
        target = cname[0]
        text = target.text
        if target.key == original.lower() or text.lower() in (seen.lower() for seen in chain):
            chain.append(text)
            return None, target.wire, 'CNAME loop at %s' % text
        chain.append(text)
        if len(chain) > MAX_CNAME_HOPS:
            return None, target.wire, 'more than %d CNAME hops' % MAX_CNAME_HOPS
        name = target.wire


def _records(found, rdtype):
    """The records of one lookup as results hold them (text, (preference, host) or addresses)."""
    if rdtype == 'TXT':
        return [b''.join(strings).decode('utf-8', 'replace') for strings in found]
    if rdtype == 'MX':
        return sorted((preference, exchange.text.lower()) for preference, exchange in found)
    if rdtype in ('A', 'AAAA'):
        return sorted(found)
    if rdtype == 'NS':
        return sorted(name.text.lower() for name in found)
    if rdtype == 'CNAME':
        return [name.text if name.text == '.' else name.text + '.' for name in found]  # as dnspython writes it
    return [rdata.to_text() for rdata in found]


def _short(value):
    return clip(value, 200)
