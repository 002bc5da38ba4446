# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit module's main(): arguments checked with a message, invalid entries reported without a lookup, a
resolver that does not answer makes a domain unknown (a closed UDP port on loopback, no mock)."""

import os
import socket
import sys

import pytest

pytest.importorskip('dns')

from ansible_collections.mailsec.mta_sts.plugins.modules import audit  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from module_runner import run_module  # noqa: E402  (beside this file)


def closed_udp_port():
    """A loopback UDP port nothing listens on: queries to it are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run(capsys, **args):
    base = {'nameservers': ['127.0.0.1'], 'dns_port': closed_udp_port(), 'timeout': 1}
    base.update(args)
    return run_module(audit, capsys, base, with_rc=True)


def test_invalid_entries_fail_with_domain_invalid_and_the_others_go_on(capsys):
    result = run(capsys, domains=['a..b', 42, '-bad-.example'])
    assert result['rc'] == 0 and result['changed'] is False
    assert [entry['status'] for entry in result['domains']] == ['fail', 'fail', 'fail']
    assert all(entry['findings'][0]['code'] == 'domain-invalid' for entry in result['domains'])
    assert [entry['input'] for entry in result['domains']] == ['a..b', 42, '-bad-.example']
    assert result['counts'] == {'pass': 0, 'fail': 3, 'unknown': 0, 'skipped': 0}


def test_a_resolver_that_does_not_answer_makes_the_domain_unknown(capsys):
    result = run(capsys, domains=['Example.ORG.'])
    entry = result['domains'][0]
    assert entry['domain'] == 'example.org' and entry['status'] == 'unknown'
    assert 'txt-lookup-failed' in [item['code'] for item in entry['findings']]
    assert result['counts']['unknown'] == 1


def test_the_options_it_ran_with_are_returned(capsys):
    result = run(capsys, domains=['a..b'], require_mode='enforce', concurrency=3)
    assert result['options']['require_mode'] == 'enforce' and result['options']['concurrency'] == 3
    assert result['options']['tlsrpt_summary'] is False


@pytest.mark.parametrize('args, message', [
    ({'ca_path': '/nonexistent/ca.pem'}, 'ca_path /nonexistent/ca.pem is not a readable file'),
    ({'timeout': 0}, 'timeout must be above 0'),
    ({'concurrency': 0}, 'concurrency at least 1'),
    ({'dns_port': 70000}, 'dns_port must be a port number'),
    ({'smtp_port': 0}, 'smtp_port must be a port number'),
    ({'require_mode': 'always'}, 'require_mode'),
    ({'planned_mx': ['mx1.example.org', 'not a host']}, "planned_mx: 'not a host' is not an MX host name"),
    ({'planned_mx': {'a..b': ['mx1.example.org']}}, "planned_mx: the key 'a..b' is not a domain"),
    ({'planned_mx': 42}, 'planned_mx must be a list of MX host names'),
])
def test_bad_arguments_fail_with_a_message(capsys, args, message):
    result = run(capsys, domains=['example.org'], **args)
    assert result['rc'] == 1 and result['failed'] is True
    assert message in result['msg']


def test_check_mode_audits_the_same(capsys):
    result = run(capsys, domains=['a..b'], _ansible_check_mode=True)
    assert result['changed'] is False and result['domains'][0]['status'] == 'fail'
