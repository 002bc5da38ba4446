# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Data is data: Jinja from DNS and HTTP is returned as text and never evaluated by later tasks.

The hostile DNS server publishes ``{{ lookup('pipe', 'id') }}`` as a TXT record at _mta-sts, inside the
TLS-RPT record, and the policy host serves it in a policy extension line. One real ansible-playbook run
(-v, so results are printed) audits the domain and then uses the values in debug, set_fact, copy,
template and a loop. The literal text must survive everywhere, and the output of ``id`` never appear.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

import hostile
from hostile_runner import hostile_servers
from playbook_runner import run_playbook

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='the hostile servers listen on ports 53 and 443 (root)')

DOMAIN = hostile.domain_name('jinja', 1)
GOOD = hostile.domain_name('good', 1)


@pytest.fixture(scope='module')
def servers(tmp_path_factory):
    with hostile_servers(tmp_path_factory, max_seconds=900) as info:
        yield info


@pytest.fixture(scope='module')
def playbook(servers, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp('data-is-data'))
    out_dir = os.path.join(workdir, 'out')
    os.makedirs(out_dir)
    proc = run_playbook('hostile_data_is_data.yml', {
        'hostile_domains': [DOMAIN, GOOD], 'hostile_nameservers': [servers['nameserver']],
        'hostile_dns_port': servers['dns_port'], 'hostile_ca_path': servers['ca_path'], 'hostile_out_dir': out_dir,
    }, workdir, args=['-v'])
    files = {}
    for name in sorted(os.listdir(out_dir)):
        with open(os.path.join(out_dir, name), encoding='utf-8') as handle:
            files[name] = handle.read()
    return {'output': proc.stdout + proc.stderr, 'files': files}


def _id_output_markers():
    """What ``id`` prints for this user: if any of it shows up, something ran the lookup."""
    return ['uid=%d(' % os.getuid(), 'gid=%d(' % os.getgid(), 'groups=']


def test_playbook_output_never_holds_the_output_of_id(playbook):
    assert hostile.JINJA in playbook['output'], 'the -v output should show the literal expression'
    for marker in _id_output_markers():
        assert marker not in playbook['output'], marker


def test_written_files_hold_the_literal_expression_and_never_its_result(playbook):
    files = playbook['files']
    assert sorted(files) == ['policy.out', 'result.json', 'template.out', 'txt.out']
    for name, text in files.items():
        for marker in _id_output_markers():
            assert marker not in text, (name, marker)
    assert files['txt.out'] == hostile.JINJA
    assert 'x-note: %s' % hostile.JINJA in files['policy.out']
    assert files['template.out'].count(hostile.JINJA) >= 3  # TXT, TLS-RPT rua, policy


def test_the_result_keeps_the_values_as_they_came(playbook):
    result = json.loads(playbook['files']['result.json'])
    entry = [d for d in result if d['domain'] == DOMAIN][0]
    assert entry['status'] == 'pass'
    assert hostile.JINJA in entry['record']['txt'] and entry['record']['id'] == hostile.RECORD_ID
    assert hostile.JINJA in entry['tlsrpt']['txt'][0]
    assert 'x-note: %s\n' % hostile.JINJA in entry['policy']['text']
    good = [d for d in result if d['domain'] == GOOD][0]
    assert good['status'] == 'pass'
