# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit's worker pool: input order, deduplication, and the hard limit that gives up on a stuck domain.

The stuck domain is simulated by an auditor whose audit blocks on an event: the behaviour under test is
the pool's bookkeeping, which no real server would make easier to observe. Real hostile servers are in
the integration tests.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

from ansible_collections.mailsec.mta_sts.plugins.module_utils import audit as audit_core


class BlockingAuditor(audit_core.Auditor):

    def __init__(self, stuck, concurrency):
        audit_core.Auditor.__init__(self, audit_core.AuditOptions(nameservers=['127.0.0.1'], timeout=0.1,
                                                                  concurrency=concurrency))
        self.stuck = stuck
        self.release = threading.Event()
        self.calls = []

    def hard_limit(self):
        return 0.5

    def audit_domain(self, domain):
        self.calls.append(domain)
        if domain in self.stuck:
            self.release.wait(10)
        return {'input': domain, 'domain': domain, 'status': 'pass', 'findings': [],
                'record': None, 'policy': None, 'mx': None, 'tlsrpt': None}


def test_pool_keeps_input_order_and_audits_duplicates_once():
    auditor = BlockingAuditor(stuck=(), concurrency=3)
    values = ['b.example', 'A.example.', 'a.example', 'not a domain', 'c.example']
    results = auditor.audit_domains(values)
    assert [r['input'] for r in results] == values
    assert [r['status'] for r in results] == ['pass', 'pass', 'pass', 'fail', 'pass']
    assert sorted(auditor.calls) == ['a.example', 'b.example', 'c.example']


def test_pool_gives_up_on_a_stuck_domain_and_finishes_the_rest():
    auditor = BlockingAuditor(stuck=('stuck.example',), concurrency=1)
    started = time.monotonic()
    try:
        results = auditor.audit_domains(['stuck.example', 'next.example', 'last.example'])
    finally:
        auditor.release.set()
    elapsed = time.monotonic() - started
    assert elapsed < 3, 'the pool waited %.1fs for a stuck domain' % elapsed
    assert results[0]['status'] == 'unknown'
    assert [f['code'] for f in results[0]['findings']] == ['audit-timeout']
    assert [r['status'] for r in results[1:]] == ['pass', 'pass']


def test_pool_reports_an_unexpected_exception_as_audit_error():
    class Exploding(BlockingAuditor):
        def audit_domain(self, domain):
            raise ZeroDivisionError('boom')

    results = Exploding(stuck=(), concurrency=2).audit_domains(['x.example'])
    assert results[0]['status'] == 'unknown'
    assert results[0]['findings'][0]['code'] == 'audit-error'
    assert 'ZeroDivisionError: boom' in results[0]['findings'][0]['message']
