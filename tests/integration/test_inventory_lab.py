# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit playbook over an inventory of domain hosts on the lab: every host of the play (or of a slice) in
one module call, and two slices merged into the report of the unsliced run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

import scenarios as sc
from test_report_support import (PLAYBOOKS, lab_vars, playbook_json, report_paths, task_results, without_volatile,
                                 write_vars)


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp('inventory-lab'))


@pytest.fixture(scope='module')
def lab_domains():
    return [s['domain'] for s in sc.by_group('default') if s['domain']]


@pytest.fixture(scope='module')
def inventory(workdir, lab_domains):
    """An Exchange export of the lab's domains plus the tenant's onmicrosoft.com domain, as ConvertTo-Json writes it."""
    export = [{'DomainName': name, 'DomainType': 'Authoritative' if n % 3 else 'InternalRelay', 'Default': n == 0,
               'Name': name} for n, name in enumerate(lab_domains)]
    export.append({'DomainName': 'lab.onmicrosoft.com', 'DomainType': 'Authoritative', 'Default': False,
                   'InitialDomain': True, 'Name': 'lab.onmicrosoft.com'})
    with open(os.path.join(workdir, 'accepted-domains.json'), 'w', encoding='utf-8') as handle:
        json.dump(export, handle, indent=4)
    path = os.path.join(workdir, 'lab.mta_sts.yml')
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('plugin: mailsec.mta_sts.domains\nsources:\n  - name: exchange\n    path: accepted-domains.json\n')
    return path


def audit(workdir, lab_info, inventory, report_dir, extra_args=(), **more):
    varfile = write_vars(workdir, 'vars-%s.json' % os.path.basename(report_dir), lab_vars(
        lab_info, mailsec_mta_sts_report_dir=report_dir, mailsec_mta_sts_report_timestamp=False, **more))
    return playbook_json(workdir, ['-i', inventory, os.path.join(PLAYBOOKS, 'audit.yml'), '-e', '@' + varfile]
                         + list(extra_args))[0]


def load(report_dir):
    with open(report_paths(report_dir)['json'], encoding='utf-8') as handle:
        return json.load(handle)


@pytest.fixture(scope='module')
def unsliced(workdir, lab_info, inventory):
    report_dir = os.path.join(workdir, 'unsliced')
    return audit(workdir, lab_info, inventory, report_dir), load(report_dir)


def test_every_host_of_the_play_is_audited_in_one_module_call(unsliced, lab_domains):
    output, report = unsliced
    calls = task_results(output, 'in one module call on the controller')
    assert len(calls) == 1  # one host ran the task: run_once, delegated to localhost
    result = list(calls.values())[0]
    assert len(result['domains']) == len(lab_domains)
    assert sorted(d['domain'] for d in report['domains']) == sorted(lab_domains)
    assert 'lab.onmicrosoft.com' not in [d['domain'] for d in report['domains']]


def test_the_verdicts_from_inventory_hosts_match_the_scenarios(unsliced):
    output, report = unsliced
    expected = dict((s['domain'], s['expect']['status']) for s in sc.by_group('default') if s['domain'])
    assert dict((d['domain'], d['status']) for d in report['domains']) == expected


def test_a_group_of_the_inventory_can_be_audited_alone(workdir, lab_info, inventory):
    report_dir = os.path.join(workdir, 'internalrelay')
    output = audit(workdir, lab_info, inventory, report_dir, ['-e', 'mailsec_mta_sts_hosts=type_internalrelay'])
    report = load(report_dir)
    lab_domains = [s['domain'] for s in sc.by_group('default') if s['domain']]
    assert sorted(d['domain'] for d in report['domains']) == sorted(lab_domains[::3])
    assert len(task_results(output, 'in one module call on the controller')) == 1


def test_two_slices_merge_into_the_report_of_the_unsliced_run(workdir, lab_info, inventory, unsliced, lab_domains):
    """What AWX job slicing does: each slice audits a part of the hosts and writes its JSON report; the merge
    playbook reads both and writes one report."""
    slices_dir = os.path.join(workdir, 'slices')
    halves = (lab_domains[0::2], lab_domains[1::2])
    for number, hosts in enumerate(halves):
        limit = os.path.join(workdir, 'slice-%d.limit' % number)
        with open(limit, 'w') as handle:
            handle.write('\n'.join(hosts) + '\n')
        output = audit(workdir, lab_info, inventory, slices_dir, ['--limit', '@' + limit],
                       mailsec_mta_sts_report_basename='mta-sts-slice-%d' % number,
                       mailsec_mta_sts_report_formats=['json'])
        assert len(task_results(output, 'in one module call on the controller')) == 1
        assert output['global_custom_stats']['mailsec_mta_sts_counts'] != unsliced[1]['verdict']['counts']
    merged_dir = os.path.join(workdir, 'merged')
    varfile = write_vars(workdir, 'vars-merge.json', {
        'mailsec_mta_sts_report_sources': [os.path.join(slices_dir, '*.json')],
        'mailsec_mta_sts_report_dir': merged_dir, 'mailsec_mta_sts_report_timestamp': False})
    output = playbook_json(workdir, [os.path.join(PLAYBOOKS, 'merge_reports.yml'), '-e', '@' + varfile])[0]
    merged = load(merged_dir)
    whole = unsliced[1]
    assert without_volatile(merged) == without_volatile(whole)
    assert merged['verdict'] == whole['verdict'] and merged['score'] == whole['score']
    assert merged['options'] == whole['options']
    stats = output['global_custom_stats']
    assert stats['mailsec_mta_sts_counts'] == whole['verdict']['counts']
    assert sorted(stats['mailsec_mta_sts_failing_domains']) == sorted(whole['verdict']['failing'])
    for fmt, path in report_paths(merged_dir).items():
        assert os.path.getsize(path) > 0, fmt
