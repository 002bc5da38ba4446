# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DnsClient on a lossy network: a lost datagram never changes an outcome.

The authoritative server is the lab's real one (tests/lab/hostile.py, good domains); in front of it a
small UDP relay on loopback drops answers as a lossy network does, or answers SERVFAIL/REFUSED itself
as a broken recursive resolver does. Every lookup must still get the server's answer, within its timeout.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import itertools
import os
import random
import socket
import sys
import threading
import time

import dns.message
import dns.rcode
import pytest

LAB = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'lab'))
if LAB not in sys.path:
    sys.path.insert(0, LAB)

import hostile  # noqa: E402

from ansible_collections.mailsec.mta_sts.plugins.module_utils import resolver  # noqa: E402
from ansible_collections.mailsec.mta_sts.plugins.module_utils.resolver import DnsClient  # noqa: E402

TIMEOUT = 5.0             # retransmissions within 1 s, backing off: five copies or more
MARGIN = 0.75


class LossyRelay(object):
    """UDP relay in front of a DNS server that drops answers (``drop(question, seen_before)``) or answers itself."""

    def __init__(self, upstream, drop=None, rcode=None, ip=hostile.DNS_IP, port=0):
        self.upstream = upstream
        self.drop = drop or (lambda question, seen: False)
        self.rcode = rcode
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind((ip, port))
        self.front.settimeout(0.2)
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind((ip, 0))
        self.back.settimeout(0.2)
        self.address = self.front.getsockname()
        self.pending = {}        # relay id -> (client id, client, question)
        self.seen = set()
        self.ids = itertools.count(1)
        self.dropped = 0
        self.queries = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._queries, daemon=True),
                        threading.Thread(target=self._answers, daemon=True)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(5)
        self.front.close()
        self.back.close()

    def _queries(self):
        while not self.stop.is_set():
            try:
                wire, client = self.front.recvfrom(65535)
            except socket.timeout:
                continue
            with self.lock:
                self.queries += 1
            if self.rcode is not None:
                response = dns.message.make_response(dns.message.from_wire(wire))
                response.set_rcode(self.rcode)
                self.front.sendto(response.to_wire(), client)
                continue
            with self.lock:
                relay_id = next(self.ids) & 0xffff
                self.pending[relay_id] = (wire[:2], client, wire[12:])
            self.back.sendto(relay_id.to_bytes(2, 'big') + wire[2:], self.upstream)

    def _answers(self):
        while not self.stop.is_set():
            try:
                wire, _server = self.back.recvfrom(65535)
            except socket.timeout:
                continue
            with self.lock:
                client_id, client, question = self.pending.pop(int.from_bytes(wire[:2], 'big'), (None, None, None))
                if client is None:
                    continue
                seen = question in self.seen
                self.seen.add(question)
                if self.drop(question, seen):
                    self.dropped += 1
                    continue
            self.front.sendto(client_id + wire[2:], client)


@pytest.fixture(scope='module')
def server():
    dns_server = hostile.HostileDNS(hostile.DNS_IP, 0).start()
    try:
        yield dns_server
    finally:
        dns_server.stop()


def _names(count):
    """(name, type, expected records) of good domains: MX, the STS TXT record and the policy host's address."""
    cases = []
    for n in range(1, count + 1):
        domain = hostile.domain_name('good', n)
        cases.append((domain, 'MX', [(10, 'mx1.%s' % domain)]))
        cases.append(('_mta-sts.%s' % domain, 'TXT', [hostile.sts_record(domain)]))
    return cases


def _run_all(client, cases):
    async def timed(name, rdtype):
        started = time.monotonic()
        lookup = await client.lookup(name, rdtype)
        return lookup, time.monotonic() - started

    async def every_case():
        return await asyncio.gather(*(timed(name, rdtype) for name, rdtype, _records in cases))

    return asyncio.run(every_case())


def test_retransmission_interval_follows_the_timeout_then_the_round_trip_times(server):
    assert DnsClient(['127.0.0.1'], 53, 10.0).retransmit == resolver.RETRANSMIT_INTERVAL
    assert DnsClient(["127.0.0.1"], 53, 1.5).retransmit == 0.5
    assert DnsClient(['127.0.0.1'], 53, 0.2).retransmit == resolver.MIN_RETRANSMIT_INTERVAL
    # answers within milliseconds on loopback: the interval drops below its cap
    client = DnsClient([server.ip], server.port, 10.0)
    _run_all(client, _names(5))
    assert client.retransmit < resolver.RETRANSMIT_INTERVAL


def test_lost_first_answer_is_retransmitted_and_answered(server):
    """Every first answer is lost: each lookup re-sends after the retransmission interval and gets the answer."""
    cases = _names(20)
    with LossyRelay((server.ip, server.port), drop=lambda question, seen: not seen) as relay:
        client = DnsClient([relay.address[0]], relay.address[1], TIMEOUT)
        results = _run_all(client, cases)
    assert relay.dropped == len(cases)
    for (name, rdtype, records), (lookup, elapsed) in zip(cases, results):
        assert lookup.outcome == 'answer', (name, rdtype, lookup.error)
        assert lookup.records == records
        assert resolver.MIN_RETRANSMIT_INTERVAL * 0.9 <= elapsed <= TIMEOUT, (name, elapsed)


def test_ten_percent_loss_changes_no_outcome(server):
    """A tenth of all answers lost at random: 400 lookups at once, every one answered as without loss."""
    cases = _names(200)
    chance = random.Random(8461)
    with LossyRelay((server.ip, server.port), drop=lambda question, seen: chance.random() < 0.1) as relay:
        client = DnsClient([relay.address[0]], relay.address[1], TIMEOUT)
        results = _run_all(client, cases)
    assert relay.dropped > 20
    assert [lookup.records for lookup, _elapsed in results] == [records for _n, _t, records in cases]
    assert max(elapsed for _lookup, elapsed in results) <= TIMEOUT + MARGIN


def _pair(first, second):
    """Two relays on two loopback addresses and one port (a DnsClient asks every nameserver on one port)."""
    first = first(hostile.NET + '54', 0)
    second = second(hostile.NET + '55', first.address[1])
    return first, second


def test_silent_nameserver_is_rotated_past(server):
    """The first nameserver loses every answer: the retransmission goes to the second, which answers."""
    cases = _names(5)
    upstream = (server.ip, server.port)
    silent, good = _pair(lambda ip, port: LossyRelay(upstream, drop=lambda q, seen: True, ip=ip, port=port),
                         lambda ip, port: LossyRelay(upstream, ip=ip, port=port))
    with silent, good:
        client = DnsClient([silent.address[0], good.address[0]], silent.address[1], TIMEOUT)
        results = _run_all(client, cases)
    assert [lookup.records for lookup, _elapsed in results] == [records for _n, _t, records in cases]
    assert silent.queries == len(cases) and good.queries == len(cases)
    assert all(elapsed <= client.max_retransmit + MARGIN for _lookup, elapsed in results)


@pytest.mark.parametrize('rcode', [dns.rcode.SERVFAIL, dns.rcode.REFUSED], ids=['SERVFAIL', 'REFUSED'])
def test_servfail_or_refused_goes_to_the_next_server_at_once(server, rcode):
    cases = _names(5)
    upstream = (server.ip, server.port)
    broken, good = _pair(lambda ip, port: LossyRelay(upstream, rcode=rcode, ip=ip, port=port),
                         lambda ip, port: LossyRelay(upstream, ip=ip, port=port))
    with broken, good:
        client = DnsClient([broken.address[0], good.address[0]], broken.address[1], TIMEOUT)
        results = _run_all(client, cases)
    assert [lookup.records for lookup, _elapsed in results] == [records for _n, _t, records in cases]
    # no waiting for a retransmission: the bad answer sends the query on at once
    assert all(elapsed < client.max_retransmit for _lookup, elapsed in results), [e for _l, e in results]


def test_every_server_refusing_is_an_error_naming_each(server):
    upstream = (server.ip, server.port)
    first, second = _pair(lambda ip, port: LossyRelay(upstream, rcode=dns.rcode.SERVFAIL, ip=ip, port=port),
                          lambda ip, port: LossyRelay(upstream, rcode=dns.rcode.REFUSED, ip=ip, port=port))
    with first, second:
        client = DnsClient([first.address[0], second.address[0]], first.address[1], TIMEOUT)
        started = time.monotonic()
        lookup = client.lookup_sync(hostile.domain_name('good', 1), 'MX')
        elapsed = time.monotonic() - started
    assert lookup.outcome == 'error'
    assert '%s answered SERVFAIL' % first.address[0] in lookup.error
    assert '%s answered REFUSED' % second.address[0] in lookup.error
    assert elapsed < client.max_retransmit


def test_deadline_given_by_the_caller_bounds_the_lookup(server):
    """A domain's deadline shorter than the timeout ends the lookup sooner (the audit shares one per domain)."""
    with LossyRelay((server.ip, server.port), drop=lambda q, seen: True) as silent:
        client = DnsClient([silent.address[0]], silent.address[1], 10.0)
        started = time.monotonic()
        lookup = asyncio.run(client.lookup(hostile.domain_name('good', 1), 'MX', deadline=started + 0.6))
        elapsed = time.monotonic() - started
    assert lookup.outcome == 'error' and 'timeout' in lookup.error
    assert 0.55 <= elapsed <= 0.6 + MARGIN
