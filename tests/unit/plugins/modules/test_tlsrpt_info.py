# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The tlsrpt_info module: arguments, result keys, and failures that name the problem without the password."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import gzip
import json
import os
import socket
import sys

import pytest

from ansible_collections.mailsec.mta_sts.plugins.modules import tlsrpt_info

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from module_runner import run_module  # noqa: E402  (beside this file)

LAB = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'lab'))
if LAB not in sys.path:
    sys.path.insert(0, LAB)

from dovecot import failure, plain_mail, report_mail, tls_policy, tls_report  # noqa: E402

PASSWORD = 'Sup3r-Secret-Imap-Pw'


def run_tlsrpt_info(args, capsys):
    return run_module(tlsrpt_info, capsys, args)


def days_ago(days):
    return (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)).date()


@pytest.fixture
def report_dir(tmp_path):
    clean = tls_report('Org A', 'a1', days_ago(2), [tls_policy('example.org', 120)])
    failing = tls_report('Org B', 'b1', days_ago(3), [
        tls_policy('example.net', 80, [failure('certificate-expired', 4, 'mx1.example.net'), failure('sts-policy-fetch-error', 2)])])
    old = tls_report('Org B', 'b0', days_ago(90), [tls_policy('example.org', 1, [failure('starttls-not-supported', 7, 'mx.example.org')])])
    (tmp_path / 'a.json.gz').write_bytes(gzip.compress(json.dumps(clean).encode('utf-8')))
    (tmp_path / 'b.eml').write_bytes(report_mail(failing, message_id='<b1@sender.example>'))
    (tmp_path / 'old.json').write_bytes(json.dumps(old).encode('utf-8'))
    (tmp_path / 'bad.eml').write_bytes(report_mail(clean, body=b'{"organization-name": "Org C", "report-id"',
                                                   message_id='<bad@sender.example>'))
    (tmp_path / 'lunch.eml').write_bytes(plain_mail(message_id='<lunch@example.net>'))
    return str(tmp_path)


def test_directory_summary_per_domain(report_dir, capsys):
    result = run_tlsrpt_info({'path': [report_dir], 'since': 30}, capsys)
    assert result['changed'] is False
    assert 'failed' not in result
    assert (result["reports"], result["outside_window"], result["sources_read"]) == (2, 1, 5)
    assert (result['successful_sessions'], result['failed_sessions']) == (200, 6)
    org = result['domains']['example.org']
    assert (org['successful_sessions'], org['failed_sessions']) == (120, 0)
    # The broken mail's TLS-Report-Domain names example.org: a report nobody could read keeps it from ready.
    assert (org['ready'], org['reasons'], org['malformed_reports']) == (False, ['tlsrpt-malformed'], 1)
    net = result['domains']['example.net']
    assert (net['ready'], net['reasons'], net['failure_types']) == (
        False, ['tlsrpt-failures'], {'certificate-expired': 4, 'sts-policy-fetch-error': 2})
    assert net['mx_hosts']['mx1.example.net']['pattern'] == '*.example.net'
    assert result['malformed_count'] == 1
    assert result['malformed'][0]['message_id'] == '<bad@sender.example>'
    assert result['malformed'][0]['source'].endswith('bad.eml')
    assert result['malformed'][0]['reason'].startswith('not JSON')
    assert result['malformed'][0]['domains'] == ['example.org']
    assert [item['message_id'] for item in result['non_reports']] == ['<lunch@example.net>']


def test_domain_filter_and_date_window(report_dir, capsys):
    result = run_tlsrpt_info({'path': [report_dir], 'domains': ['EXAMPLE.org.'], 'since': str(days_ago(100)),
                              'until': str(days_ago(50))}, capsys)
    assert list(result['domains']) == ['example.org']
    assert result['domains']['example.org']['failure_types'] == {'starttls-not-supported': 7}
    assert result['window']['since'] == '%sT00:00:00Z' % days_ago(100)
    assert result['window']['until'] == '%sT00:00:00Z' % days_ago(49)


def test_check_mode_reads_the_same(report_dir, capsys):
    normal = run_tlsrpt_info({'path': [report_dir]}, capsys)
    checked = run_tlsrpt_info({'path': [report_dir], '_ansible_check_mode': True}, capsys)
    for key in ('reports', 'domains', 'failed_sessions', 'malformed_count'):
        assert checked[key] == normal[key]
    assert checked['changed'] is False


@pytest.mark.parametrize('args, message', [
    ({}, 'Nothing to read: give path'),
    ({'path': ['/nonexistent/tlsrpt']}, 'path /nonexistent/tlsrpt does not exist'),
    ({'path': ['/nonexistent'], 'since': 'last week'}, 'since/until:'),
    ({'path': ['/nonexistent'], 'until': -3}, 'since/until:'),
    ({'path': ['/nonexistent'], 'timeout': 0}, 'timeout must be above 0'),
    ({'path': ['/nonexistent'], 'imap_port': 0}, 'imap_port from 1 to 65535'),
    ({'path': ['/nonexistent'], 'domains': ['not a domain']}, "domains: 'not a domain' is not a domain name"),
    ({'imap_host': 'imap.example.org'}, 'missing parameter(s) required by \'imap_host\''),
])
def test_bad_arguments_fail_with_a_message(args, message, capsys):
    result = run_tlsrpt_info(args, capsys)
    assert result['failed'] is True
    assert message in result['msg']


def _closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize('security', ['tls', 'starttls'])
def test_unreachable_imap_server_fails_without_the_password(security, capsys):
    result = run_tlsrpt_info({'imap_host': '127.0.0.1', 'imap_port': _closed_port(), 'imap_security': security,
                              'imap_username': 'reports', 'imap_password': PASSWORD, 'timeout': 5}, capsys)
    assert result['failed'] is True
    assert 'cannot connect' in result['msg']
    assert PASSWORD not in json.dumps(result)


def test_bad_ca_path_fails_with_a_message(tmp_path, capsys):
    bad = tmp_path / 'ca.pem'
    bad.write_text('not a certificate')
    result = run_tlsrpt_info({'imap_host': '127.0.0.1', 'imap_username': 'reports', 'imap_password': PASSWORD,
                              'ca_path': str(bad)}, capsys)
    assert result['failed'] is True
    assert 'Cannot load ca_path' in result['msg']
