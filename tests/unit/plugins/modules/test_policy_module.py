# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The policy module: rendering, validation with the audit's parser, atomic write, id, check mode, diff."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys
import os
import stat

import pytest

from ansible_collections.mailsec.mta_sts.plugins.module_utils.policy import parse_policy, policy_id
from ansible_collections.mailsec.mta_sts.plugins.module_utils.record import parse_sts_record
from ansible_collections.mailsec.mta_sts.plugins.modules import policy as policy_module

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from module_runner import run_module  # noqa: E402  (beside this file)


def run(capsys, check=False, diff=False, **args):
    return run_module(policy_module, capsys, args, check=check, diff=diff)


@pytest.fixture
def path(tmp_path):
    (tmp_path / '.well-known').mkdir()
    return str(tmp_path / '.well-known' / 'mta-sts.txt')


def read(path):
    with open(path) as handle:
        return handle.read()


def test_policy_written_in_canonical_form_and_parsed_by_the_audit_parser(capsys, path):
    result = run(capsys, path=path, policy_mode='testing', mx=['MX2.example.org.', 'mx1.example.org'], max_age=86400)
    assert result['changed'] is True
    assert read(path) == result['text'] == 'version: STSv1\nmode: testing\nmx: mx1.example.org\nmx: mx2.example.org\nmax_age: 86400\n'
    assert parse_policy(read(path)) == result['policy']
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644  # the web server's workers must read it


def test_policy_id_follows_content_and_record_parses(capsys, path):
    result = run(capsys, path=path, mx=['mx1.example.org'])
    assert result['id'] == policy_id(result['text'])
    assert parse_sts_record(result['record'])['id'] == result['id']
    again = run(capsys, path=path, mx=['mx1.example.org'])
    assert again['changed'] is False
    assert again['id'] == result['id']
    changed = run(capsys, path=path, mx=['mx1.example.org'], policy_mode='enforce')
    assert changed['changed'] is True
    assert changed['id'] != result['id']


def test_policy_check_mode_reports_without_writing(capsys, path):
    result = run(capsys, check=True, diff=True, path=path, mx=['mx1.example.org'])
    assert result['changed'] is True
    assert not os.path.exists(path)
    assert result['diff'][0]['before'] == ''
    assert result['diff'][0]['after'] == result['text']


def test_policy_check_mode_tolerates_a_missing_directory(capsys, tmp_path):
    result = run(capsys, check=True, path=str(tmp_path / 'missing' / 'mta-sts.txt'), mx=['mx1.example.org'])
    assert result['changed'] is True


def test_policy_missing_directory_fails_with_advice(capsys, tmp_path):
    result = run(capsys, path=str(tmp_path / 'missing' / 'mta-sts.txt'), mx=['mx1.example.org'])
    assert result['failed'] is True
    assert 'does not exist' in result['msg']


def test_policy_diff_shows_the_change(capsys, path):
    run(capsys, path=path, mx=['mx1.example.org'])
    result = run(capsys, diff=True, path=path, mx=['mx1.example.org'], max_age=1209600)
    assert 'max_age: 604800' in result['diff'][0]['before']
    assert 'max_age: 1209600' in result['diff'][0]['after']


def test_policy_backup_keeps_the_previous_file(capsys, path):
    run(capsys, path=path, mx=['mx1.example.org'])
    old = read(path)
    result = run(capsys, path=path, mx=['mx1.example.org'], policy_mode='enforce', backup=True)
    assert read(result['backup_file']) == old


def test_policy_mode_change_of_the_file_is_a_change(capsys, path):
    run(capsys, path=path, mx=['mx1.example.org'])
    result = run(capsys, path=path, mx=['mx1.example.org'], mode='0640')
    assert result['changed'] is True
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


@pytest.mark.parametrize('args, code', [
    ({'mx': []}, 'policy-mx-missing'),
    ({'mx': ['mx*.example.org']}, 'policy-mx-invalid'),
    ({'mx': ['mx1.example.org'], 'max_age': 31557601}, 'policy-max-age-invalid'),
    ({'mx': ['mx1.example.org'], 'max_age': -1}, 'policy-max-age-invalid'),
])
def test_policy_invalid_input_fails_with_the_audit_finding_code(capsys, path, args, code):
    result = run(capsys, path=path, **args)
    assert result['failed'] is True
    assert code in result['codes']
    assert not os.path.exists(path)


def test_policy_mode_none_needs_no_mx(capsys, path):
    result = run(capsys, path=path, policy_mode='none')
    assert result['policy']['mode'] == 'none'


def test_policy_uncovered_lists_mx_hosts_no_pattern_covers(capsys, path):
    result = run(capsys, check=True, path=path, mx=['*.example.org'],
                 mx_hosts=['mx1.example.org', 'a.b.example.org', 'example.org', 'mx.example.net'])
    assert result['uncovered'] == ['a.b.example.org', 'example.org', 'mx.example.net']  # RFC 8461 section 4.1
