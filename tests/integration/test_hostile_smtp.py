# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit module with check_mx_tls against hostile MX hosts (the SMTP kinds of tests/lab/hostile.py).

One real ansible-playbook run audits one domain of every SMTP kind, four more whose MX hosts flood
continuation lines, and good domains, in ONE module call (timeout 2 s) under an interpreter that records
wall time and peak RSS: every verdict, the call within its deadline, memory bounded (a flooding MX host
once grew the module to gigabytes), messages in words.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

import pytest

import hostile
from hostile_runner import audit_hostile, hostile_servers

TIMEOUT = 2.0
STAGES = 4                  # first lookups, the policy host's addresses, the policy, the MX hosts' STARTTLS
CALL_MARGIN = 4.0
RSS_LIMIT_MB = 300          # issue 10: four flooding MX hosts in one call stay under 300 MB
SMTP_KINDS = sorted(hostile.SMTP_KINDS)
FLOODING = [hostile.domain_name(kind, n) for kind in ('smtpflood250', 'smtpflood220') for n in (2, 3)]
GOOD = [hostile.domain_name('good', n) for n in range(3)]
REPR = re.compile(r"_ssl\.c|\w+Error\(|\w+\(\w+=|bytearray\(|\bb'|\[SSL|\[Errno")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='the hostile servers listen on ports 25, 53 and 443 (root)')


@pytest.fixture(scope='module')
def smtp_run(tmp_path_factory):
    with hostile_servers(tmp_path_factory, max_seconds=900) as servers:
        domains = [hostile.domain_name(kind, 1) for kind in SMTP_KINDS] + FLOODING + GOOD
        yield audit_hostile(servers, str(tmp_path_factory.mktemp('hostile-smtp-audit')), domains, TIMEOUT,
                            measure=True, check_mx_tls=True)


def _entry(smtp_run, domain):
    matches = [d for d in smtp_run['result']['domains'] if d['domain'] == domain]
    assert len(matches) == 1, domain
    return matches[0]


@pytest.mark.parametrize('domain', [hostile.domain_name(kind, 1) for kind in SMTP_KINDS] + FLOODING)
def test_hostile_mx_host_gets_its_verdict_in_words(smtp_run, domain):
    entry = _entry(smtp_run, domain)
    status, codes = hostile.expected(domain)
    found = set(f['code'] for f in entry['findings'])
    assert entry['status'] == status and set(codes) <= found, json.dumps(entry['findings'], indent=1)
    assert 'audit-error' not in found and 'audit-timeout' not in found
    for item in entry['findings']:
        assert not REPR.search(item['message']), item['message']


def test_good_domains_beside_hostile_mx_hosts_keep_their_policy(smtp_run):
    for domain in GOOD:
        entry = _entry(smtp_run, domain)
        assert entry['policy']['mode'] == 'enforce' and entry['record']['id'] == hostile.RECORD_ID
        # their MX hosts point where nothing listens: only the MX check fails
        assert set(f['code'] for f in entry['findings'] if f['severity'] == 'error') <= {'mx-connect-failed'}


def test_four_flooding_mx_hosts_in_one_call_stay_under_300_mb(smtp_run):
    rss_mb = smtp_run['module']['maxrss_kb'] / 1024.0
    print('audit module with check_mx_tls: peak RSS %.0f MB, wall %.1fs' % (rss_mb, smtp_run['module']['wall']))
    assert rss_mb < RSS_LIMIT_MB, 'the module process peaked at %.0f MB' % rss_mb


def test_hostile_mx_hosts_keep_the_call_within_its_deadline(smtp_run):
    wall = smtp_run['module']['wall']
    limit = STAGES * TIMEOUT + CALL_MARGIN + smtp_run['startup']
    assert wall <= limit, 'the module ran %.1fs, limit %.1fs' % (wall, limit)
    for domain in smtp_run['domains']:
        for host in _entry(smtp_run, domain)['mx']['hosts']:
            if host.get('tls'):
                assert host['tls']['elapsed'] <= TIMEOUT + 0.75, (domain, host['tls'])
