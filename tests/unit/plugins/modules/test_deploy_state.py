# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The deploy_state module: read, record once, check mode, diff, atomic write, damaged files refused."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import sys
import os
import stat

import pytest

from ansible_collections.mailsec.mta_sts.plugins.modules import deploy_state

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from module_runner import run_module  # noqa: E402  (beside this file)

ANNOUNCE = {'id': 'abc123', 'mode': 'testing', 'max_age': 86400, 'mx': ['mx1.example.org']}


def run(capsys, check=False, diff=False, **args):
    return run_module(deploy_state, capsys, args, check=check, diff=diff)


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / 'state' / 'example.org.json')


def test_read_of_a_missing_file_is_an_empty_state_and_writes_nothing(capsys, path):
    result = run(capsys, path=path, domain='Example.ORG.')
    assert result['changed'] is False and result['recorded'] is False
    assert result['state'] == {'domain': 'example.org', 'announcements': []}
    assert result['newest'] is None
    assert result['now'].endswith('Z')
    assert not os.path.exists(path)


def test_check_mode_reports_the_record_with_a_diff_and_writes_nothing(capsys, path):
    result = run(capsys, check=True, diff=True, path=path, domain='example.org', announce=ANNOUNCE)
    assert result['changed'] is True
    assert result['newest']['id'] == 'abc123'
    assert '"abc123"' in result['diff']['after'] and result['diff']['before'] == ''
    assert not os.path.exists(path)


def test_record_writes_once_and_a_second_run_changes_nothing(capsys, path):
    first = run(capsys, path=path, domain='example.org', announce=ANNOUNCE)
    assert first['changed'] is True
    with open(path) as handle:
        written = json.load(handle)
    assert written == first['state']
    assert written['announcements'][0]['announced_at'] == first['now']
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(os.path.dirname(path)) == ['example.org.json']  # no temporary left
    second = run(capsys, path=path, domain='example.org', announce=ANNOUNCE, _ansible_diff=True)
    assert second['changed'] is False and 'diff' not in second
    assert second['state'] == written
    newer = run(capsys, path=path, domain='example.org', announce=dict(ANNOUNCE, id='def456', mode='none'))
    assert newer['changed'] is True
    assert [item['id'] for item in newer['state']['announcements']] == ['abc123', 'def456']


def test_a_damaged_state_file_is_refused_and_kept(capsys, path):
    os.makedirs(os.path.dirname(path))
    with open(path, 'w') as handle:
        handle.write('{"domain": "example.org", "announcements": [{"id": "x"')
    result = run(capsys, path=path, domain='example.org', announce=ANNOUNCE)
    assert result['failed'] is True
    assert 'cannot be used' in result['msg'] and 'Move it away to start over' in result['msg']
    with open(path) as handle:
        assert handle.read().endswith('"x"')


def test_a_state_file_of_another_domain_is_refused(capsys, path):
    run(capsys, path=path, domain='example.org', announce=ANNOUNCE)
    result = run(capsys, path=path, domain='example.net')
    assert result['failed'] is True and "for domain 'example.org', not example.net" in result['msg']


def test_a_bad_id_fails_clearly(capsys, path):
    result = run(capsys, path=path, domain='example.org', announce=dict(ANNOUNCE, id='not-an-id'))
    assert result['failed'] is True and 'not a policy id' in result['msg']
    assert not os.path.exists(path)
