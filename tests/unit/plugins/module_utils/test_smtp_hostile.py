# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""check_starttls against hostile MX hosts (tests/lab/hostile.py) in this process, on loopback ports above 1024.

Each case checks the problem word, that the check ends within its deadline, and the Python memory it
allocated at its peak (tracemalloc): a flood of continuation lines must not be held in memory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import os
import sys
import threading
import time
import tracemalloc

import pytest

LAB = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'lab'))
if LAB not in sys.path:
    sys.path.insert(0, LAB)

import hostile  # noqa: E402

from ansible_collections.mailsec.mta_sts.plugins.module_utils.smtp import (  # noqa: E402
    MAX_LINE_BYTES, MAX_REPLY_LINES, check_starttls, check_starttls_async)
from ansible_collections.mailsec.mta_sts.plugins.module_utils.tls import tls_client_context  # noqa: E402

TIMEOUT = 1.0
DEADLINE_MARGIN = 0.5
PEAK_BYTES = 2 * 1024 * 1024

CASES = {
    'flood250': ('connect-failed', 'more than %d reply lines after EHLO' % MAX_REPLY_LINES),
    'flood220': ('connect-failed', 'more than %d reply lines in its greeting' % MAX_REPLY_LINES),
    'longline': ('connect-failed', 'a reply line longer than %d bytes' % MAX_LINE_BYTES),
    'dripbanner': ('timeout', 'within the timeout'),
    'silent': ('timeout', 'within the timeout'),
    'garbagetls': ('tls-error', 'did not answer with TLS'),
}


@pytest.fixture(scope='module')
def smtp():
    server = hostile.HostileSMTP(port=0).start()
    try:
        yield server
    finally:
        server.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith('hostile-smtp')], 'server threads left running'


@pytest.mark.parametrize('behaviour', sorted(CASES))
def test_starttls_against_hostile_mx_host_is_bounded(smtp, behaviour):
    problem, words = CASES[behaviour]
    tracemalloc.start()
    started = time.monotonic()
    try:
        facts = check_starttls('mx1.smtp.hostile.test', hostile.smtp_ip(behaviour), smtp.ports[behaviour], TIMEOUT,
                               tls_client_context())
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert facts['problem'] == problem, facts
    assert words in facts['error'], facts['error']
    assert elapsed <= TIMEOUT + DEADLINE_MARGIN, 'the check took %.2fs with timeout %.1fs' % (elapsed, TIMEOUT)
    assert peak < PEAK_BYTES, 'the check allocated %d bytes at its peak' % peak


def test_four_flooding_mx_hosts_at_once_share_one_loop_and_stay_bounded(smtp):
    async def four():
        context = tls_client_context()
        return await asyncio.gather(*[
            check_starttls_async('mx%d.smtp.hostile.test' % n, hostile.smtp_ip(kind), smtp.ports[kind], TIMEOUT, context)
            for n, kind in enumerate(['flood250', 'flood220', 'flood250', 'flood220'])])

    tracemalloc.start()
    started = time.monotonic()
    try:
        results = asyncio.run(four())
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [facts['problem'] for facts in results] == ['connect-failed'] * 4
    assert elapsed <= TIMEOUT + DEADLINE_MARGIN and peak < PEAK_BYTES, (elapsed, peak)


def test_hostile_smtp_flood_really_floods(smtp):
    """The flood is not a short reply: a plain client reads far more than MAX_REPLY_LINES lines from it."""
    import socket
    with socket.create_connection((hostile.smtp_ip('flood250'), smtp.ports['flood250']), timeout=5) as conn:
        conn.recv(100)
        conn.sendall(b'EHLO test\r\n')
        data = b''
        while data.count(b'\n') < 10 * MAX_REPLY_LINES:
            data += conn.recv(65536)
    assert all(line.startswith(b'250-') for line in data.split(b'\r\n')[:-1])
