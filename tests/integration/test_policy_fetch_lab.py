# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""policy_fetch against the real lab (BIND, nginx on loopback) through ansible-playbook: the audit's address
policy and the policy's warnings."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

import scenarios as sc
from playbook_runner import read_json, run_playbook

from ansible_collections.mailsec.mta_sts.plugins.module_utils.policy import policy_id

GOOD = sc.BY_ID['pass-enforce']
DUPLICATE = sc.BY_ID['policy-field-duplicate']


@pytest.fixture(scope='module')
def fetched(lab_info, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp('policy-fetch-lab'))
    result_path = os.path.join(workdir, 'result.json')
    run_playbook('policy_fetch_lab.yml', {
        'lab_nameservers': [lab_info['nameserver']], 'lab_dns_port': lab_info['dns_port'],
        'lab_ca_path': lab_info['ca_path'], 'lab_domain': GOOD['domain'], 'lab_duplicate_domain': DUPLICATE['domain'],
        'lab_expected_id': policy_id(GOOD['web']['body']), 'lab_result_path': result_path,
    }, workdir)
    return read_json(result_path)


def test_policy_fetch_refuses_the_loopback_policy_host_by_default(fetched):
    result = fetched['refused']
    assert result['verified'] is False and result['problem'] == 'policy-host-private-address'
    assert result['address'] is None and result['http_status'] is None
    assert [item['address'] for item in result['refused_addresses']] == [sc.WEB_IP]
    assert 'mta-sts.%s resolves to %s' % (GOOD['domain'], sc.WEB_IP) in result['error']


def test_policy_fetch_allowed_private_addresses_verifies_the_lab_policy(fetched):
    result = fetched['allowed']
    assert result['verified'] is True and result['problem'] is None, result
    assert result['address'] == sc.WEB_IP and result['refused_addresses'] == []
    assert result['policy']['mode'] == 'enforce' and result['policy']['warnings'] == []


def test_policy_fetch_returns_the_duplicate_field_as_a_policy_warning(fetched):
    result = fetched['duplicate']
    assert result['verified'] is True, result
    assert result['policy']['mode'] == 'enforce'
    assert [item['code'] for item in result['policy']['warnings']] == ['policy-field-duplicate']
