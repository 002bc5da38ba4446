# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tlsrpt_info through real ansible-playbook runs: reports in a directory, and in a real Dovecot over TLS.

Dovecot runs from a temp dir with its own config on 127.0.0.143 (IMAPS and IMAP+STARTTLS, certificate from
trustme); the reports are built from the RFC 8460 schema and delivered with IMAP APPEND. Every run is -vvv
and its output must not contain the IMAP password.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import gzip
import json
import mailbox
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

import dovecot as lab_dovecot
from dovecot import failure, plain_mail, report_mail, tls_policy, tls_report
from playbook_runner import ansible_env, ansible_playbook

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
PLAYBOOK = os.path.join(HERE, 'playbooks', 'tlsrpt_info.yml')
PLAYBOOK_TIMEOUT = 300
USER = 'tlsrpt-reader'
PASSWORD = 'Pw-7c1e9b0a-NEVER-IN-OUTPUT'
WRONG_PASSWORD = 'Wrong-5d2f-NEVER-IN-OUTPUT'
NOW = datetime.datetime.now(datetime.timezone.utc)


def days_ago(days):
    return (NOW - datetime.timedelta(days=days)).date()


# ---------------------------------------------------------------------------------------------------------------
# What the senders reported: the reports, the mails that carry them, and the counts they must add up to.

CLEAN = tls_report('Google Inc.', 'g-clean-1', days_ago(2), [tls_policy('clean.example', 4200)])
FAILING = tls_report('Microsoft Corporation', 'ms-fail-1', days_ago(3), [
    tls_policy('failing.example', 950, [
        failure('certificate-expired', 30, 'mx1.failing.example', '192.0.2.10'),
        failure('starttls-not-supported', 12, 'mx2.failing.example', '192.0.2.11'),
        failure('certificate-host-mismatch', 5, 'mx.old-provider.example', '198.51.100.7'),  # not in the policy
        failure('sts-policy-fetch-error', 3, sending_ip=None),  # no MX reached, no sending IP (as Microsoft sends)
    ]),
    tls_policy('failing.example', 40, policy_type='no-policy-found'),
])
UNSPECIFIED = {'failure-reason-code': 'X509_V_ERR_UNSPECIFIED'}
LOOSE = tls_report('Small Sender', 's-1', days_ago(4), [
    tls_policy('clean.example', 17),
    tls_policy('failing.example', 8, [failure('validation-failure', 1, 'mx1.failing.example', **UNSPECIFIED)]),
])
IN_FOLDER = tls_report('Fastmail', 'fm-1', days_ago(1), [tls_policy('clean.example', 300)])
OLD = tls_report('Google Inc.', 'g-old-1', days_ago(60), [
    tls_policy('clean.example', 10, [failure('certificate-expired', 99, 'mx1.clean.example')])])
BROKEN_JSON = b'{"organization-name": "Broken Org", "report-id": "b-1", "policies": [{"policy": {"policy-domain": "failing.'

INBOX_MAILS = [
    report_mail(CLEAN, message_id='<g-clean-1@google.example>'),                       # gzip (application/tlsrpt+gzip)
    report_mail(FAILING, compress=False, message_id='<ms-fail-1@microsoft.example>'),  # application/tlsrpt+json
    report_mail(LOOSE, media_type='application/gzip', message_id='<s-1@small.example>'),
    report_mail(FAILING, body=BROKEN_JSON, message_id='<broken-1@broken.example>'),
    report_mail(OLD, message_id='<g-old-1@google.example>'),
    plain_mail(message_id='<lunch-1@example.net>'),
]
FOLDER = 'Reports/TLS'
FOLDER_MAILS = [report_mail(IN_FOLDER, message_id='<fm-1@fastmail.example>')]

# In the 30-day window of the INBOX: CLEAN, FAILING, LOOSE counted; OLD outside; BROKEN malformed; lunch is no report.
EXPECTED_INBOX = {
    'reports': 3, 'outside_window': 1, 'malformed_count': 1, 'non_reports': 1,
    'successful_sessions': 4200 + 950 + 40 + 17 + 8,
    'failed_sessions': 30 + 12 + 5 + 3 + 1,
    'clean.example': {'successful_sessions': 4217, 'failed_sessions': 0, 'ready': True, 'reports': 2,
                      'organizations': ['Google Inc.', 'Small Sender']},
    'failing.example': {
        'successful_sessions': 998, 'failed_sessions': 51, 'ready': False, 'reports': 2,
        'failure_types': {'certificate-expired': 30, 'certificate-host-mismatch': 5, 'starttls-not-supported': 12,
                          'sts-policy-fetch-error': 3, 'validation-failure': 1},
        'mx_not_covered': ['mx.old-provider.example'],
        'reasons': ['tlsrpt-failures', 'tlsrpt-malformed'],
    },
}


# ---------------------------------------------------------------------------------------------------------------
# Running the playbook


class Run(object):
    def __init__(self, result, output):
        self.result = result
        self.output = output


def run_tlsrpt_info(workdir, name, args, expect_failure=False):
    """One ansible-playbook -vvv run of tlsrpt_info with ``args``; returns its result and all it printed."""
    result_path = os.path.join(workdir, 'result-%s.json' % name)
    vars_path = os.path.join(workdir, 'vars-%s.json' % name)
    with open(vars_path, 'w', encoding='utf-8') as handle:
        json.dump({'tlsrpt_args': args, 'tlsrpt_result_path': result_path, 'tlsrpt_expect_failure': expect_failure}, handle)
    os.chmod(vars_path, 0o600)
    env = ansible_env(workdir)
    command = [ansible_playbook(), '-vvv', '-i', 'localhost,', PLAYBOOK, '-e', '@' + vars_path,
               '-e', 'ansible_python_interpreter=%s' % sys.executable]
    proc = subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT,
                          check=False)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 or not os.path.exists(result_path):
        pytest.fail('ansible-playbook %s failed (rc=%d)\n%s' % (name, proc.returncode, output[-8000:]), pytrace=False)
    with open(result_path, encoding='utf-8') as handle:
        result = json.load(handle)
    assert bool(result.get('failed')) == expect_failure, result.get('msg')
    return Run(result, output)


def assert_no_secret(run, *secrets):
    for secret in secrets:
        assert secret not in run.output, 'a secret appears in the ansible-playbook -vvv output'
        assert secret not in json.dumps(run.result)


def assert_inbox_summary(result, expected=None, non_reports=True):
    expected = expected or EXPECTED_INBOX
    for key in ('reports', 'outside_window', 'malformed_count', 'successful_sessions', 'failed_sessions'):
        assert result[key] == expected[key], key
    if non_reports:
        assert len(result['non_reports']) == expected['non_reports']
    clean = result['domains']['clean.example']
    for key, value in expected['clean.example'].items():
        assert clean[key] == value, key
    failing = result['domains']['failing.example']
    want = expected['failing.example']
    assert (failing['successful_sessions'], failing['failed_sessions'], failing['ready']) == (
        want['successful_sessions'], want['failed_sessions'], want['ready'])
    assert failing['failure_types'] == want['failure_types']
    assert failing['mx_hosts_not_covered'] == want['mx_not_covered']
    assert failing['reasons'] == want['reasons']
    assert failing['mx_hosts']['mx1.failing.example'] == {
        'failed_sessions': 31, 'failure_types': {'certificate-expired': 30, 'validation-failure': 1},
        'receiving_ips': ['192.0.2.10'], 'pattern': '*.failing.example'}
    assert failing['policy_types']['no-policy-found'] == {'successful_sessions': 40, 'failed_sessions': 0}
    assert failing['organizations'] == ['Microsoft Corporation', 'Small Sender']


# ---------------------------------------------------------------------------------------------------------------
# Reports as files


@pytest.fixture(scope='module')
def workdir():
    path = tempfile.mkdtemp(prefix='tlsrpt-it-')
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope='module')
def report_tree(workdir):
    """The INBOX's mails as a Maildir, the folder's as an mbox, and reports as plain .json / .json.gz files."""
    root = os.path.join(workdir, 'reports')
    maildir = os.path.join(root, 'Maildir')
    for sub in ('cur', 'new', 'tmp'):
        os.makedirs(os.path.join(maildir, sub))
    for index, mail in enumerate(INBOX_MAILS):
        with open(os.path.join(maildir, 'new' if index % 2 else 'cur', '17000000%02d.M1P1.lab:2,S' % index), 'wb') as handle:
            handle.write(mail)
    box = mailbox.mbox(os.path.join(root, 'archive.mbox'))
    for mail in FOLDER_MAILS:
        box.add(mail)
    box.close()
    extra = tls_report('Yahoo', 'y-1', days_ago(5), [tls_policy('other.example', 5, [failure('dane-required', 2, 'mx.other.example')])])
    with open(os.path.join(root, 'y-1.json.gz'), 'wb') as handle:
        handle.write(gzip.compress(json.dumps(extra).encode('utf-8')))
    with open(os.path.join(root, 'truncated.json'), 'wb') as handle:
        handle.write(json.dumps(extra).encode('utf-8')[:40])
    return root


def test_directory_of_maildir_mbox_and_files(workdir, report_tree):
    run = run_tlsrpt_info(workdir, 'dir', {'path': [report_tree], 'since': 30})
    result = run.result
    assert result['changed'] is False
    assert result['malformed_count'] == 2
    assert sorted(os.path.basename(item['source']) for item in result['malformed'])[1] == 'truncated.json'
    broken = [item for item in result['malformed'] if item['message_id'] == '<broken-1@broken.example>']
    assert len(broken) == 1 and broken[0]['reason'].startswith('not JSON')
    assert result['domains']['other.example']['failure_types'] == {'dane-required': 2}
    assert result['domains']['clean.example']['successful_sessions'] == 4217 + 300  # + the mbox report
    assert result['reports'] == 3 + 1 + 1


def test_directory_with_domain_filter(workdir, report_tree):
    run = run_tlsrpt_info(workdir, 'dir-filter', {'path': [report_tree], 'since': 30, 'domains': ['clean.example', 'Failing.Example.']})
    result = run.result
    assert sorted(result['domains']) == ['clean.example', 'failing.example']
    assert result['domains']['clean.example']['ready'] is True
    assert result['domains']['failing.example']['ready'] is False


# ---------------------------------------------------------------------------------------------------------------
# Reports in a real Dovecot over TLS


@pytest.fixture(scope='module')
def imap_server(workdir):
    reason = lab_dovecot.available()
    if reason:
        pytest.skip(reason)
    trustme = pytest.importorskip('trustme')
    root = tempfile.mkdtemp(prefix='tlsrpt-dovecot-')  # its own dir: Dovecot's unprivileged processes must reach it
    server = lab_dovecot.Dovecot(root, trustme.CA(), {USER: PASSWORD})
    try:
        try:
            server.start()
        except lab_dovecot.DovecotError as exc:
            pytest.fail('Dovecot did not start: %s' % exc, pytrace=False)
        for mail in INBOX_MAILS:
            server.append(USER, mail)
        for mail in FOLDER_MAILS:
            server.append(USER, mail, folder=FOLDER)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def imap_args(server, **extra):
    args = {'imap_host': server.address, 'imap_port': server.imaps_port, 'imap_username': USER, 'imap_password': PASSWORD,
            'ca_path': server.ca_path, 'since': 30, 'timeout': 10}
    args.update(extra)
    return args


def test_imaps_inbox_counts_match_the_reports(workdir, imap_server):
    run = run_tlsrpt_info(workdir, 'imaps', imap_args(imap_server))
    assert_inbox_summary(run.result)
    assert run.result['sources_read'] == len(INBOX_MAILS)
    source = run.result['malformed'][0]['source']
    assert source.startswith('imap://%s:%d/INBOX;UIDVALIDITY=' % (imap_server.address, imap_server.imaps_port))
    assert run.result['malformed'][0]['message_id'] == '<broken-1@broken.example>'
    assert run.result['non_reports'][0]['message_id'] == '<lunch-1@example.net>'
    assert_no_secret(run, PASSWORD)
    assert 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' in run.output  # -vvv shows the arguments, masked


def test_reading_leaves_every_message_unread(workdir, imap_server):
    run_tlsrpt_info(workdir, 'imaps-again', imap_args(imap_server))
    flags = imap_server.flags(USER)
    assert len(flags) == len(INBOX_MAILS)
    assert not [item for item in flags if '\\Seen' in item]


def test_starttls_folder_with_since_as_a_date(workdir, imap_server):
    args = imap_args(imap_server, imap_security='starttls', imap_port=imap_server.imap_port, imap_folder=FOLDER,
                     since=str(days_ago(7)))
    run = run_tlsrpt_info(workdir, 'starttls', args)
    result = run.result
    assert (result['reports'], result['successful_sessions'], result['failed_sessions']) == (1, 300, 0)
    assert result['domains']['clean.example']['organizations'] == ['Fastmail']
    assert_no_secret(run, PASSWORD)


def test_imap_and_directory_together_count_each_report_once(workdir, imap_server, report_tree):
    run = run_tlsrpt_info(workdir, 'both', imap_args(imap_server, path=[os.path.join(report_tree, 'Maildir')]))
    assert run.result['duplicates'] == 3
    # The old report lies outside the window and the broken mail is malformed, once from each source.
    assert_inbox_summary(run.result, dict(EXPECTED_INBOX, outside_window=2, malformed_count=2), non_reports=False)


def test_untrusted_certificate_fails_and_names_the_problem(workdir, imap_server):
    trustme = pytest.importorskip('trustme')
    other_ca = os.path.join(workdir, 'other-ca.pem')
    trustme.CA().cert_pem.write_to_path(other_ca)
    run = run_tlsrpt_info(workdir, 'untrusted', imap_args(imap_server, ca_path=other_ca), expect_failure=True)
    assert 'certificate is not trusted' in run.result['msg']
    assert_no_secret(run, PASSWORD)


def test_missing_folder_fails(workdir, imap_server):
    run = run_tlsrpt_info(workdir, 'no-folder', imap_args(imap_server, imap_folder='No Such Folder'), expect_failure=True)
    assert 'cannot open folder No Such Folder' in run.result['msg']
    assert_no_secret(run, PASSWORD)


# Last: Dovecot delays further logins from an address after a refused one.
def test_wrong_password_fails_without_echoing_it(workdir, imap_server):
    run = run_tlsrpt_info(workdir, 'wrong-password', imap_args(imap_server, imap_password=WRONG_PASSWORD), expect_failure=True)
    assert 'login refused' in run.result['msg']
    assert_no_secret(run, WRONG_PASSWORD, PASSWORD)
