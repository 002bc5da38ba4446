# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""DnsClient.lookup against a hostile authoritative server (tests/lab/hostile.py) in this process, on a port above 1024.

Every lookup must end within its timeout and say ``error`` when there is no answer the verdict may
rely on; records owned by another name than the one asked for are never taken as the answer.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import os
import sys
import threading
import time

import pytest

LAB = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'lab'))
if LAB not in sys.path:
    sys.path.insert(0, LAB)

import hostile  # noqa: E402

from ansible_collections.mailsec.mta_sts.plugins.module_utils.resolver import DnsClient  # noqa: E402

TIMEOUT = 1.0
MARGIN = 0.75
SLOW_TIMEOUT = 0.8
SLOW_DELAY = 0.5          # each answer of the slow CNAME chain; 7 of them take 3.5 s against a 0.8 s timeout


@pytest.fixture(scope='module')
def server():
    dns_server = hostile.HostileDNS(hostile.DNS_IP, 0, slow_delay=SLOW_DELAY).start()
    try:
        yield dns_server
    finally:
        dns_server.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith('hostile-dns')], 'server threads left running'


def _sts(kind):
    return '_mta-sts.%s' % hostile.domain_name(kind, 1)


# (kind, name, type, outcome, check of the Lookup)
CASES = [
    ('good', hostile.domain_name('good', 1), 'MX', 'answer',
     lambda lookup: lookup.records == [(10, 'mx1.good-1.hostile.test')]),
    ('dnstc', _sts('dnstc'), 'TXT', 'answer', lambda lookup: lookup.records == [hostile.sts_record('')]),
    ('dnsbigtxt', _sts('dnsbigtxt'), 'TXT', 'answer',
     lambda lookup: len(lookup.records) == 239 and sum(len(t) for t in lookup.records) > 60000),
    ('dnscnameshort', _sts('dnscnameshort'), 'TXT', 'answer',
     lambda lookup: len(lookup.cname_chain) == hostile.CNAME_CHAIN_SHORT and lookup.records),
    ('dnstcdrip', _sts('dnstcdrip'), 'TXT', 'error', None),
    ('dnscnameloop', _sts('dnscnameloop'), 'TXT', 'error', lambda lookup: 'loop' in lookup.error),
    ('dnscnameloopmsg', _sts('dnscnameloopmsg'), 'TXT', 'error', None),
    ('dnscnamechain', _sts('dnscnamechain'), 'TXT', 'error', lambda lookup: 'CNAME hops' in lookup.error),
    ('dnscnamechainmsg', _sts('dnscnamechainmsg'), 'TXT', 'error', None),
    ('dnscnamepolicy', 'mta-sts.%s' % hostile.domain_name('dnscnamepolicy', 1), 'A', 'error', None),
    ('dnsservfail', _sts('dnsservfail'), 'TXT', 'error', lambda lookup: 'SERVFAIL' in lookup.error),
    ('dnsrefused', _sts('dnsrefused'), 'TXT', 'error', lambda lookup: 'REFUSED' in lookup.error),
    ('dnssilent', _sts('dnssilent'), 'TXT', 'error', lambda lookup: 'timeout' in lookup.error),
    ('dnsgarbage', _sts('dnsgarbage'), 'TXT', 'error', None),
    ('dnswrongq', _sts('dnswrongq'), 'TXT', 'error', None),
    # the answer section holds a valid STS record owned by another name: that is no answer for this name
    ('dnswrongname', _sts('dnswrongname'), 'TXT', 'nodata', lambda lookup: lookup.records == []),
    ('dnswrongname', 'mta-sts.%s' % hostile.domain_name('dnswrongname', 1), 'A', 'nodata',
     lambda lookup: lookup.records == []),
]


@pytest.fixture(scope='module')
def lookups(server):
    """Every case looked up at once (the timeouts overlap), each with its own duration."""
    client = DnsClient([server.ip], server.port, TIMEOUT)

    async def timed(case):
        started = time.monotonic()
        lookup = await client.lookup(case[1], case[2])
        return lookup, time.monotonic() - started

    async def every_case():
        return await asyncio.gather(*(timed(case) for case in CASES))

    return asyncio.run(every_case())


@pytest.mark.parametrize('index', range(len(CASES)), ids=['%s-%s' % (c[0], c[2]) for c in CASES])
def test_lookup_against_hostile_dns(lookups, index):
    _kind, name, rdtype, outcome, check = CASES[index]
    lookup, elapsed = lookups[index]
    assert lookup.outcome == outcome, (name, rdtype, lookup.outcome, lookup.error, lookup.records[:3])
    assert elapsed <= TIMEOUT + MARGIN, '%s %s took %.2fs with timeout %.1fs' % (name, rdtype, elapsed, TIMEOUT)
    if check is not None:
        assert check(lookup), (lookup.records[:3], lookup.error, lookup.cname_chain)


def test_lookup_of_thousands_of_mx_records_over_tcp(server):
    """2,900 MX records (64 KiB over TCP) are one answer, read in a thread so the event loop goes on; a longer
    timeout than the other cases leaves room for a loaded machine."""
    client = DnsClient([server.ip], server.port, 4.0)
    lookup = client.lookup_sync(hostile.domain_name('mxflood'), 'MX')
    assert lookup.outcome == 'answer' and len(lookup.records) == hostile.MX_FLOOD_COUNT, lookup.error


def test_lookup_slow_cname_chain_ends_within_one_timeout(server):
    """'Hard deadline for each network operation': a chain of CNAMEs answered slowly is one lookup, one timeout."""
    client = DnsClient([server.ip], server.port, SLOW_TIMEOUT)
    started = time.monotonic()
    lookup = client.lookup_sync(_sts('dnsslowchain'), 'TXT')
    elapsed = time.monotonic() - started
    assert elapsed <= SLOW_TIMEOUT + MARGIN, 'the lookup took %.2fs with timeout %.1fs (%s, chain %s)' % (
        elapsed, SLOW_TIMEOUT, lookup.outcome, lookup.cname_chain)
    assert lookup.outcome == 'error'


def test_hostile_dns_answers_big_rrsets_only_over_tcp(server):
    """The 64 KiB RRsets are real: over UDP the server says TC, over TCP the whole RRset comes."""
    import dns.flags
    import dns.message
    import dns.query

    query = dns.message.make_query(_sts('dnsbigtxt'), 'TXT', use_edns=0, payload=1232)
    udp = dns.query.udp(query, server.ip, port=server.port, timeout=2)
    assert udp.flags & dns.flags.TC and not udp.answer
    tcp = dns.query.tcp(query, server.ip, port=server.port, timeout=2)
    assert len(tcp.to_wire()) > 60000 and len(tcp.answer[0]) == 239
