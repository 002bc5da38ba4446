# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit module against the real lab: one ansible-playbook run per option group, then per-domain asserts.

The collection is found through ANSIBLE_COLLECTIONS_PATH (the Makefile sets it); without it, a
temporary ansible_collections/mailsec/mta_sts link to this checkout is used.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import json
import os

import pytest

import scenarios as sc
from playbook_runner import REPO_ROOT, read_json, run_playbook

STATUSES = ('pass', 'fail', 'unknown', 'skipped')


def run_audit(lab_info, group, workdir):
    """Run the playbook for one group; return the registered module result."""
    result_path = os.path.join(workdir, 'result-%s.json' % group)
    run_playbook('audit_lab.yml', {
        'lab_domains': [s['input'] for s in sc.by_group(group)],
        'lab_nameservers': [lab_info['nameserver']],
        'lab_dns_port': lab_info['dns_port'],
        'lab_ca_path': lab_info['ca_path'],
        'lab_options': sc.GROUPS[group][0],
        'lab_result_path': result_path,
    }, workdir)
    return read_json(result_path)


@pytest.fixture(scope='session')
def audit_results(lab_info, tmp_path_factory):
    """group -> module result, each group audited once, on first use."""
    workdir = str(tmp_path_factory.mktemp('audit-lab'))
    cache = {}

    def get(group):
        if group not in cache:
            cache[group] = run_audit(lab_info, group, workdir)
        return cache[group]
    return get


def _entry(result, scenario):
    matches = [d for d in result['domains'] if d.get('input') == scenario['input']]
    assert len(matches) == 1, 'expected one result for input %r, got %d' % (scenario['input'], len(matches))
    return matches[0]


def _problems(entry, expect):
    problems = []
    codes = [f['code'] for f in entry['findings']]
    if entry['status'] != expect['status']:
        problems.append('status %r, expected %r' % (entry['status'], expect['status']))
    for code in expect['codes']:
        if code not in codes:
            problems.append('missing finding %s' % code)
    for code in list(expect.get('absent') or []) + list(sc.NOT_PRODUCIBLE):
        if code in codes:
            problems.append('unexpected finding %s' % code)
    if expect.get('clean'):
        loud = ['%s(%s)' % (f['code'], f['severity']) for f in entry['findings']
                if f['severity'] in ('warning', 'error')]
        if loud:
            problems.append('expected no warning or error, got %s' % ', '.join(loud))
    if 'ready' in expect and entry.get('enforce_ready') is not expect['ready']:
        problems.append('enforce_ready %r, expected %r (blockers: %s)' % (
            entry.get('enforce_ready'), expect['ready'], [b['code'] for b in entry.get('enforce_blockers') or []]))
    blocking = [b['code'] for b in entry.get('enforce_blockers') or []]
    for code in expect.get('blockers') or []:
        if code not in blocking:
            problems.append('%s does not block enforce' % code)
    for code, severity in (expect.get('severity') or {}).items():
        seen = set(f['severity'] for f in entry['findings'] if f['code'] == code)
        if seen and seen != {severity}:
            problems.append('%s has severity %s, expected %s' % (code, '/'.join(sorted(seen)), severity))
    return problems


@pytest.mark.parametrize('scenario', sc.SCENARIOS, ids=[s['id'] for s in sc.SCENARIOS])
def test_scenario_verdict(audit_results, scenario):
    entry = _entry(audit_results(scenario['group']), scenario)
    problems = _problems(entry, scenario['expect'])
    if entry.get('domain') != scenario['domain']:
        problems.append('domain %r, expected %r' % (entry.get('domain'), scenario['domain']))
    assert not problems, '%s (%s, group %s): %s\nfindings: %s' % (
        scenario['id'], scenario['summary'], scenario['group'], '; '.join(problems),
        json.dumps(entry['findings'], indent=1, ensure_ascii=False))


@pytest.mark.parametrize('group', sorted(sc.GROUPS))
def test_group_result_is_read_only_and_counts_add_up(audit_results, group):
    result = audit_results(group)
    inputs = [s['input'] for s in sc.by_group(group)]
    assert result['changed'] is False
    assert not result.get('failed')
    assert [d['input'] for d in result['domains']] == inputs  # one result per input, in input order
    control = result['control']
    assert control['id'] == 'EDCA-TLS-025'
    counts = control['counts']
    by_status = collections.Counter(d['status'] for d in result['domains'])
    assert set(by_status) <= set(STATUSES)
    assert sum(counts.get(status, 0) for status in STATUSES) == len(result['domains'])
    for status in STATUSES:
        assert counts.get(status, 0) == by_status.get(status, 0), status
    worst = next(s for s in ('fail', 'unknown', 'pass', 'skipped') if by_status.get(s) or s == 'skipped')
    assert control['status'] == worst


@pytest.mark.parametrize('group', sorted(sc.GROUPS))
def test_group_findings_use_catalog_codes(audit_results, group):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        'lab_findings_catalog', os.path.join(REPO_ROOT, 'plugins', 'module_utils', 'findings.py'))
    findings = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(findings)
    for entry in audit_results(group)['domains']:
        for item in entry['findings']:
            assert item['code'] in findings.CATALOG, item
            assert item['severity'] in ('error', 'warning', 'info'), item
            assert item['message'], item


def test_cn_only_certificates_get_a_finding_that_says_so(audit_results):
    """Issue 11 item 7: DNS-ID only, and the finding tells the owner why the CN does not count."""
    for sid in ('policy-cert-cn-only', 'mxtls-cn-only'):
        scenario = sc.BY_ID[sid]
        entry = _entry(audit_results(scenario['group']), scenario)
        messages = [f['message'] for f in entry['findings']
                    if f['code'] in ('policy-cert-name-mismatch', 'mx-cert-invalid')]
        assert messages and all('only in its subject CN' in m for m in messages), (sid, messages)


def test_interim_responses_are_read_past_in_the_lab(audit_results):
    """Issue 11 item 6: 100 Continue and 103 Early Hints before the 200 are evidence, not a finding."""
    scenario = sc.BY_ID['policy-interim-responses']
    entry = _entry(audit_results(scenario['group']), scenario)
    assert entry['policy']['http_status'] == 200 and entry['policy']['interim_responses'] == [100, 103]
