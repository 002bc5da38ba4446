# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit playbook as AWX runs it - through ansible-runner - over a domain inventory of lab domains: each domain
host ends with its own status in the job events, the job log carries the verdict line without the table, the
verdict is the set_stats artifact; and the runs that must fail (no domains, a source that does not parse) fail,
while a domain list holding a template is only data."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import sys
import time

import ansible_runner
import pytest

from playbook_runner import ansible_env, tool
from test_report_support import PLAYBOOKS, lab_vars, run

AUDIT = os.path.join(PLAYBOOKS, 'audit.yml')
PASSING = ['pass-enforce.test', 'mode-testing.test']
FAILING = ['txt-missing.test', 'policy-http-status.test']
UNKNOWN = ['servfail.test']
STATUS_TASK = 'Report the verdict of each domain host'


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp('awx-runner'))


@pytest.fixture(scope='module')
def inventory(workdir):
    path = os.path.join(workdir, 'lab.mta_sts.yml')
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('plugin: mailsec.mta_sts.domains\nsources:\n  - name: lab\n    domains: %s\n'
                     % json.dumps(PASSING + FAILING + UNKNOWN))
    return path


def audit_vars(lab_info, **more):
    # The lab's servers are on loopback, which the audit refuses unless told otherwise.
    return lab_vars(lab_info, mailsec_mta_sts_allow_private_addresses=True, **more)


def runner(workdir, name, inventory, extravars, cmdline=None):
    """ansible-runner in a private data dir of its own, as AWX runs a job: returns the Runner."""
    private = os.path.join(workdir, name)
    os.makedirs(private)
    env = ansible_env(workdir)
    env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
    return ansible_runner.run(private_data_dir=private, playbook=AUDIT, inventory=inventory, extravars=extravars,
                              cmdline=cmdline, envvars=env, quiet=True, timeout=600)


def final_statuses(job):
    """{host: (event, changed)} of the per-host status task, from the job events."""
    found = {}
    for event in job.events:
        data = event.get('event_data', {})
        if event['event'].startswith('runner_on_') and data.get('task') == STATUS_TASK:
            found[data['host']] = (event['event'], bool(data.get('res', {}).get('changed')))
    return found


def stats(job):
    return [event for event in job.events if event['event'] == 'playbook_on_stats'][-1]['event_data']


@pytest.fixture(scope='module')
def failing_job(workdir, lab_info, inventory):
    return runner(workdir, 'fail-on-fail', inventory,
                  audit_vars(lab_info, mailsec_mta_sts_fail_on='fail', mailsec_mta_sts_show_table=False))


def test_each_domain_host_ends_with_its_own_status_in_the_job_events(failing_job):
    assert failing_job.status == 'failed' and failing_job.rc != 0
    statuses = final_statuses(failing_job)
    assert statuses == dict([(name, ('runner_on_failed', True)) for name in FAILING]
                            + [(name, ('runner_on_ok', True)) for name in UNKNOWN]
                            + [(name, ('runner_on_ok', False)) for name in PASSING])
    summary = stats(failing_job)
    assert sorted(summary['failures']) == sorted(FAILING)
    assert sorted(summary.get('changed', {})) == UNKNOWN  # a failed host counts as failed only
    assert set(PASSING + UNKNOWN) <= set(summary['ok'])


def test_the_audit_stays_one_module_call(failing_job):
    calls = [event for event in failing_job.events if event['event'] == 'runner_on_ok'
             and event['event_data'].get('task_action') == 'mailsec.mta_sts.audit']
    assert len(calls) == 1


def test_the_job_log_has_the_verdict_line_without_the_table(failing_job):
    stdout = failing_job.stdout.read()
    assert ('EDCA-TLS-025: FAIL - 5 domains: 2 pass, 2 fail, 1 unknown, 0 skipped; failing: %s; unknown: %s; '
            'reports: none' % (', '.join(sorted(FAILING)), UNKNOWN[0])) in stdout
    assert 'MAIN FINDING' not in stdout  # mailsec_mta_sts_show_table: false


def test_the_verdict_is_the_set_stats_artifact(failing_job):
    artifact = stats(failing_job)['artifact_data']
    assert artifact['mailsec_mta_sts_control'] == 'EDCA-TLS-025'
    assert artifact['mailsec_mta_sts_status'] == 'fail'
    assert artifact['mailsec_mta_sts_failing_domains'] == sorted(FAILING)
    assert artifact['mailsec_mta_sts_unknown_domains'] == UNKNOWN
    assert dict((k, int(v)) for k, v in artifact['mailsec_mta_sts_counts'].items()) == {
        'pass': 2, 'fail': 2, 'unknown': 1, 'skipped': 0}


def test_without_fail_on_the_failing_domains_are_changed_and_the_job_succeeds(workdir, lab_info, inventory):
    job = runner(workdir, 'fail-on-never', inventory, audit_vars(lab_info, mailsec_mta_sts_fail_on='never',
                                                                 mailsec_mta_sts_show_table=True))
    assert job.status == 'successful' and job.rc == 0
    assert final_statuses(job) == dict([(name, ('runner_on_ok', True)) for name in FAILING + UNKNOWN]
                                       + [(name, ('runner_on_ok', False)) for name in PASSING])
    assert 'MAIN FINDING' in job.stdout.read()  # the table when asked for


def test_fail_on_unknown_fails_the_unknown_domain_too(workdir, lab_info, inventory):
    job = runner(workdir, 'fail-on-unknown', inventory, audit_vars(lab_info, mailsec_mta_sts_fail_on='unknown'))
    assert sorted(stats(job)['failures']) == sorted(FAILING + UNKNOWN)


def test_a_long_audit_shows_progress_while_it_runs(workdir, lab_info):
    # policy-timeout.test's policy host accepts the connection and never answers: the audit waits its timeout.
    path = os.path.join(workdir, 'slow.mta_sts.yml')
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('plugin: mailsec.mta_sts.domains\nsources:\n  - domains: [policy-timeout.test, pass-enforce.test]\n')
    started = time.monotonic()
    job = runner(workdir, 'slow', path, audit_vars(lab_info, mailsec_mta_sts_timeout=3,
                                                   mailsec_mta_sts_progress_interval=1))
    assert job.status == 'successful', job.stdout.read()[-3000:]
    stdout = job.stdout.read()
    lines = [line for line in stdout.splitlines() if 'mailsec.mta_sts.audit: 2 domains, still auditing after' in line]
    assert len(lines) >= 2, stdout[-3000:]
    assert time.monotonic() - started < 60


# -- runs that must not pass ----------------------------------------------------------------------------------

def playbook(workdir, args, **env):
    return run([tool('ansible-playbook'), AUDIT] + list(args), workdir, env=ansible_env(workdir, **env),
               expect_rc=None)


def test_no_inventory_fails_and_says_what_to_pass(workdir):
    proc = playbook(workdir, [])
    assert proc.returncode != 0
    assert 'No domains to audit' in proc.stdout and 'mailsec_mta_sts_domains_file' in proc.stdout
    assert '-i accepted-domains.mta_sts.yml' in proc.stdout


def test_an_inventory_source_without_domains_fails(workdir, lab_info):
    path = os.path.join(workdir, 'empty.mta_sts.yml')
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('plugin: mailsec.mta_sts.domains\nsources:\n  - domains: []\n')
    proc = playbook(workdir, ['-i', path, '-e', json.dumps(audit_vars(lab_info))])
    assert proc.returncode != 0
    assert 'empty.mta_sts.yml gave no domains' in proc.stdout and 'Nothing was audited' in proc.stdout


def test_a_truncated_export_fails_loudly_even_beside_a_good_source(workdir, lab_info, inventory):
    with open(os.path.join(workdir, 'truncated.json'), 'w', encoding='utf-8') as handle:
        handle.write('[{"DomainName": "pass-enforce.test", "DomainType": "Authoritative"}, {"DomainName": "txt-mi')
    path = os.path.join(workdir, 'truncated.mta_sts.yml')
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('plugin: mailsec.mta_sts.domains\nsources:\n  - path: truncated.json\n')
    proc = playbook(workdir, ['-i', inventory, '-i', path, '-e', json.dumps(audit_vars(lab_info))])
    assert proc.returncode != 0
    assert 'truncated.json: not JSON' in proc.stderr  # Ansible's warning names the file and the problem
    assert 'truncated.mta_sts.yml gave no domains' in proc.stdout
    assert 'in one module call' not in proc.stdout  # nothing was audited


def test_a_bad_item_is_skipped_by_name_and_the_rest_audited(workdir, lab_info):
    with open(os.path.join(workdir, 'one-bad.json'), 'w', encoding='utf-8') as handle:
        json.dump([{'DomainName': 'pass-enforce.test', 'DomainType': 'Authoritative'},
                   {'DomainName': 'txt-missing.test', 'DomainType': 'Relay'},
                   {'DomainName': 'mode-testing.test', 'DomainType': 2}], handle)
    path = os.path.join(workdir, 'one-bad.mta_sts.yml')
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('plugin: mailsec.mta_sts.domains\nsources:\n  - name: export\n    path: one-bad.json\n')
    proc = playbook(workdir, ['-i', path, '-e', json.dumps(audit_vars(lab_info))])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert 'skipping item 1 of source export' in proc.stderr and 'txt-missing.test' in proc.stderr
    assert 'EDCA-TLS-025: PASS - 2 domains: 2 pass' in proc.stdout


def test_a_domain_list_holding_a_template_is_never_rendered(workdir, lab_info):
    marker = os.path.join(workdir, 'template-ran')
    domains = os.path.join(workdir, 'domains.yml')
    with open(domains, 'w', encoding='utf-8') as handle:
        handle.write('- pass-enforce.test\n- "{{ lookup(\'pipe\', \'touch %s\') }}"\n- "{%% if true %%}x{%% endif %%}"\n'
                     % marker)
    report_dir = os.path.join(workdir, 'template-reports')
    proc = playbook(workdir, ['-e', json.dumps(audit_vars(lab_info, mailsec_mta_sts_domains_file=domains,
                                                          mailsec_mta_sts_report_dir=report_dir,
                                                          mailsec_mta_sts_report_formats=['json']))])
    assert not os.path.exists(marker)
    assert proc.returncode == 0, proc.stdout[-3000:]
    with open(os.path.join(report_dir, 'mta-sts-report.json'), encoding='utf-8') as handle:
        report = json.load(handle)
    inputs = [entry.get('input') for entry in report['domains']]
    assert "{{ lookup('pipe', 'touch %s') }}" % marker in inputs  # audited as what it is: not a domain name
    assert '{% if true %}x{% endif %}' in inputs
    assert not os.path.exists(marker)
