# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The address policy through a real ansible-playbook run: DNS that points at internal addresses.

The private-address kinds of tests/lab/hostile.py point mta-sts.<domain> at 127.0.0.1, 0.0.0.0, ::1,
169.254.169.254, RFC 1918, RFC 4193, IPv4-mapped and multicast addresses, and one MX host at 10.0.0.25 and
fd00::25. One module call with allow_private_addresses at its default (false) and check_mx_tls: every such
domain fails with a finding that names the host and the address, and nothing is contacted (no fetch,
no STARTTLS). The good domains of the lab are on loopback too, so they are refused the same way.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

import hostile
from hostile_runner import audit_hostile, hostile_servers

TIMEOUT = 2.0
KINDS = sorted(hostile.PRIVATE_KINDS)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='the hostile servers listen on ports 53 and 443 (root)')


@pytest.fixture(scope='module')
def private_run(tmp_path_factory):
    with hostile_servers(tmp_path_factory, max_seconds=600) as servers:
        domains = [hostile.domain_name(kind, 1) for kind in KINDS] + [hostile.domain_name('good', 1)]
        run = audit_hostile(servers, str(tmp_path_factory.mktemp('hostile-private-audit')), domains, TIMEOUT,
                            check_mx_tls=True, allow_private_addresses=False)
        yield dict((entry['domain'], entry) for entry in run['result']['domains'])


@pytest.mark.parametrize('kind', KINDS)
def test_private_address_kind_is_refused_and_named(private_run, kind):
    domain = hostile.domain_name(kind, 1)
    entry = private_run[domain]
    status, codes = hostile.expected(domain)
    found = [f for f in entry['findings'] if f['code'] in codes]
    assert entry['status'] == status and set(codes) <= set(f['code'] for f in found), entry['findings']
    refused = [f for f in entry['findings'] if f['code'] == 'policy-host-private-address']
    published = sum(hostile.PRIVATE_POLICY_HOSTS.get(hostile.KINDS[kind]['dns'], {}).values(), [])
    for address in published:
        assert any(address in f['message'] and 'mta-sts.%s' % domain in f['message'] for f in refused), (
            address, refused)
    # nothing contacted: no HTTP status, no TLS facts, no fetch address
    assert entry['policy'].get('http_status') is None and entry['policy'].get('address') is None
    assert all('tls' not in host for host in entry['mx']['hosts'])


def test_private_mx_host_is_refused_with_its_addresses(private_run):
    entry = private_run[hostile.domain_name('privmx', 1)]
    messages = [f['message'] for f in entry['findings'] if f['code'] == 'mx-private-address']
    assert any('10.0.0.25' in m for m in messages) and any('fd00::25' in m for m in messages), messages
    assert all('mx1.privmx-1.hostile.test' in m for m in messages)


def test_loopback_lab_domain_is_refused_too_by_default(private_run):
    entry = private_run[hostile.domain_name('good', 1)]
    assert entry['status'] == 'fail' and 'policy-host-private-address' in [f['code'] for f in entry['findings']]
