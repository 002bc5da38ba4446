# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""After the first deployment: emergency downgrade, opt-out (RFC 8461 section 8.3) and max_age staging, through
real ansible-playbook runs against tests/lab/deploy_lab.py (BIND with RFC 2136 + TSIG, nginx, aiosmtpd).

max_age values of a few seconds, so that every wait is real (the role compares the announcement state on the
web host with its clock) and brief. Runs are interrupted with the hold-at-task callback of test_deploy_faults.py
(SIGKILL before a named task) and a later run completes. The tests of one domain build on each other in file order.
"""

from __future__ import absolute_import, division, print_function

import datetime
import json
import os
import re
import signal
import time

import test_deploy as base
from test_deploy_faults import Held, _changed_tasks

lab = base.lab  # the lab fixture of test_deploy.py: this module gets a lab of its own


def _state(lab, domain):
    """The announcement state file the role keeps on the web host (mailsec_mta_sts_state_dir)."""
    path = os.path.join(lab.info['role_vars']['mailsec_mta_sts_state_dir'], domain + '.json')
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def _time(text):
    return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc)


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _sleep_until(when, margin=0.3):
    left = (when - _utcnow()).total_seconds() + margin
    if left > 0:
        time.sleep(left)


def _stats(run):
    return json.loads(run.output.split('CUSTOM STATS:', 1)[1].split('RUN:', 1)[1].strip().splitlines()[0])


def _served_mode(lab, domain):
    return re.search(r'(?m)^mode: (\w+)$', lab.fetch(domain)[2]).group(1)


# --- the announcement state ----------------------------------------------------------------------------

DOWN = {'domain': 'dl-downgrade.test', 'max_age': 4}


def test_first_deployment_records_its_announcement_in_the_state_file(lab):
    assert _state(lab, 'dl-downgrade.test') is None
    started = _utcnow().replace(microsecond=0)
    run = lab.deploy([dict(DOWN, mode='enforce', enforce_override=True)])
    assert run.rc == 0, run
    state = _state(lab, 'dl-downgrade.test')
    assert state['domain'] == 'dl-downgrade.test'
    [entry] = state['announcements']
    assert entry['id'] == base._sts_id(lab, 'dl-downgrade.test')
    assert (entry['mode'], entry['max_age'], entry['mx']) == ('enforce', 4, ['mx1.dl-downgrade.test'])
    assert started <= _time(entry['announced_at']) <= _utcnow() + datetime.timedelta(seconds=1)
    # The state lives outside the served document root.
    assert not lab.info['role_vars']['mailsec_mta_sts_state_dir'].startswith(lab.info['nginx']['www'])


# --- emergency downgrade -------------------------------------------------------------------------------

def test_downgrade_in_check_mode_shows_the_change_and_changes_nothing(lab):
    before = (base._sts_id(lab, 'dl-downgrade.test'), base._read(lab.policy_file('dl-downgrade.test')),
              _state(lab, 'dl-downgrade.test'))
    run = lab.deploy([dict(DOWN, mode='enforce', emergency_downgrade=True)], check=True, diff=True)
    assert run.rc == 0, run
    assert run.changed > 0, run
    assert '-mode: enforce' in run.output and '+mode: testing' in run.output
    assert 'EMERGENCY DOWNGRADE dl-downgrade.test: mode testing instead of enforce' in run.output
    assert (base._sts_id(lab, 'dl-downgrade.test'), base._read(lab.policy_file('dl-downgrade.test')),
            _state(lab, 'dl-downgrade.test')) == before


def test_downgrade_that_fails_half_way_keeps_the_enforce_policy_serving(lab):
    old_id = base._sts_id(lab, 'dl-downgrade.test')
    run = lab.deploy([dict(DOWN, mode='enforce', emergency_downgrade=True, nginx_extra_directives=['return 404;'])],
                     extra={'mailsec_mta_sts_verify_retries': 1})
    assert run.rc != 0, run
    assert 'the previous web configuration and policy were restored, DNS was not touched' in run.output
    assert _served_mode(lab, 'dl-downgrade.test') == 'enforce'
    assert base._sts_id(lab, 'dl-downgrade.test') == old_id
    assert len(_state(lab, 'dl-downgrade.test')['announcements']) == 1


def test_downgrade_interrupted_then_completed_in_one_run_without_the_readiness_gate(lab):
    domain = 'dl-downgrade.test'
    old_id = base._sts_id(lab, domain)
    # The domain is not ready for enforce (no TLS-RPT record): a downgrade does not ask.
    assert base._readiness(lab, domain) == (False, ['tlsrpt-missing'])
    entry = dict(DOWN, mode='enforce', emergency_downgrade=True)
    held = Held(lab, 'downgrade-dns', 'Publish the DNS records of %s' % domain, {'mailsec_mta_sts_deploy_domains': [entry]})
    held.wait_until_held()
    assert held.kill() == -signal.SIGKILL
    assert _served_mode(lab, domain) == 'testing' and base._sts_id(lab, domain) == old_id  # DNS not touched yet

    run = lab.deploy([entry], env={'ANSIBLE_SHOW_CUSTOM_STATS': 'true'})
    assert run.rc == 0, run
    assert 'Refusing' not in run.output
    assert re.search(r'TASK \[[^\]]*Audit whether %s is ready[^\]]*\] \*+\nskipping: ' % re.escape(domain), run.output), run
    new_id = base._sts_id(lab, domain)
    assert new_id != old_id and new_id == base._policy_id(lab.fetch(domain)[2])
    assert _served_mode(lab, domain) == 'testing'
    state = _state(lab, domain)
    assert [item['mode'] for item in state['announcements']] == ['enforce', 'testing']
    assert state['announcements'][-1]['id'] == new_id
    # Loud: at the domain and again at the end, with when the cached enforce policy is gone at the latest.
    latest = _time(state['announcements'][-1]['announced_at']) + datetime.timedelta(seconds=4)
    line = 'EMERGENCY DOWNGRADE %s: mode testing instead of enforce' % domain
    assert run.output.count(line) >= 2, run
    assert 'Senders switch when they next fetch the policy' in run.output
    assert 'at the latest %s' % latest.strftime('%Y-%m-%dT%H:%M:%SZ') in run.output
    stats = _stats(run)
    assert stats['mailsec_mta_sts_emergency_downgrades'] == [domain]
    assert [item['mode'] for item in stats['mailsec_mta_sts_lifecycle']] == ['testing']
    assert lab.audit([domain])[domain]['policy']['mode'] == 'testing'


def test_downgrade_second_run_changes_nothing_and_still_says_so(lab):
    run = lab.deploy([dict(DOWN, mode='enforce', emergency_downgrade=True)])
    assert run.rc == 0, run
    assert run.changed == 0, run
    assert 'EMERGENCY DOWNGRADE dl-downgrade.test' in run.output
    assert len(_state(lab, 'dl-downgrade.test')['announcements']) == 2


# --- opt-out (RFC 8461 section 8.3) ---------------------------------------------------------------------

OUT = {'domain': 'dl-optout.test', 'max_age': 5, 'tlsrpt_rua': ['mailto:tlsrpt@dl-optout.test']}
OPT_OUT = dict(OUT, state='absent', remove_tlsrpt=True)
OUT_VARS = {'mailsec_mta_sts_opt_out_max_age': 2}


def test_opt_out_in_check_mode_changes_nothing(lab):
    run = lab.deploy([OUT])
    assert run.rc == 0, run
    before = (base._sts_id(lab, 'dl-optout.test'), base._read(lab.policy_file('dl-optout.test')), _state(lab, 'dl-optout.test'))
    run = lab.deploy([OPT_OUT], extra=OUT_VARS, check=True, diff=True)
    assert run.rc == 0, run
    assert run.changed > 0, run
    assert '-mode: testing' in run.output and '+mode: none' in run.output
    assert 'OPT-OUT dl-optout.test: publishing mode none with a new id' in run.output
    assert (base._sts_id(lab, 'dl-optout.test'), base._read(lab.policy_file('dl-optout.test')),
            _state(lab, 'dl-optout.test')) == before


def test_opt_out_publishes_mode_none_and_keeps_everything_until_the_earliest_removal(lab):
    domain = 'dl-optout.test'
    old_id = base._sts_id(lab, domain)
    run = lab.deploy([OPT_OUT], extra=OUT_VARS)
    assert run.rc == 0, run
    assert _served_mode(lab, domain) == 'none'
    assert 'max_age: 2\n' in lab.fetch(domain)[2]
    new_id = base._sts_id(lab, domain)
    assert new_id != old_id
    state = _state(lab, domain)
    assert [item['mode'] for item in state['announcements']] == ['testing', 'none']
    earliest = _time(state['announcements'][-1]['announced_at']) + datetime.timedelta(seconds=5)  # the testing max_age
    # Until then: each run reports the earliest removal and changes nothing.
    run = lab.deploy([OPT_OUT], extra=OUT_VARS)
    assert run.rc == 0, run
    assert run.changed == 0, run
    assert 'the records and the policy host stay until %s' % earliest.strftime('%Y-%m-%dT%H:%M:%SZ') in run.output
    assert _utcnow() < earliest  # the run above really came before the time
    assert base._sts_id(lab, domain) == new_id and lab.txt('_smtp._tls.' + domain) != []
    assert lab.address('mta-sts.' + domain) == [base.deploy_lab.WEB_IP]


def test_opt_out_removal_interrupted_then_completed(lab):
    domain = 'dl-optout.test'
    state = _state(lab, domain)
    _sleep_until(_time(state['announcements'][-1]['announced_at']) + datetime.timedelta(seconds=5))
    held = Held(lab, 'optout-web', 'Remove the nginx virtual host of mta-sts.%s' % domain,
                dict(OUT_VARS, mailsec_mta_sts_deploy_domains=[OPT_OUT]))
    held.wait_until_held()
    assert held.kill() == -signal.SIGKILL
    # DNS first: the _mta-sts record, the TLS-RPT record and the policy host's address are gone, the web server not yet.
    assert lab.txt('_mta-sts.' + domain) == [] and lab.txt('_smtp._tls.' + domain) == []
    assert lab.address('mta-sts.' + domain) == []
    assert os.path.exists(lab.vhost(domain)) and os.path.exists(lab.policy_file(domain))

    run = lab.deploy([OPT_OUT], extra=OUT_VARS)
    assert run.rc == 0, run
    assert 'OPT-OUT %s: no _mta-sts record is published' % domain in run.output
    assert not os.path.exists(lab.vhost(domain))
    assert not os.path.exists(os.path.dirname(os.path.dirname(lab.policy_file(domain))))
    assert 'Reload nginx' in _changed_tasks(run.output)
    audited = lab.audit([domain])[domain]
    assert 'txt-missing' in [finding['code'] for finding in audited['findings']]
    # Done: a later run changes nothing.
    run = lab.deploy([OPT_OUT], extra=OUT_VARS)
    assert run.rc == 0, run
    assert run.changed == 0, run


# --- max_age staging -------------------------------------------------------------------------------------

STAGED = {'domain': 'dl-staging.test', 'max_age_steps': [3, 6]}
CLEAN = {'dl-staging.test': {'successful_sessions': 50, 'failed_sessions': 0, 'failure_types': {}}}
FAILING = {'dl-staging.test': {'successful_sessions': 50, 'failed_sessions': 2,
                               'failure_types': {'certificate-expired': 2}}}


def test_staging_starts_at_the_first_step_and_waits_for_it(lab):
    domain = 'dl-staging.test'
    run = lab.deploy([STAGED], extra={'mailsec_mta_sts_tlsrpt_summary': CLEAN})
    assert run.rc == 0, run
    assert 'max_age: 3\n' in lab.fetch(domain)[2]
    announced = _time(_state(lab, domain)['announcements'][-1]['announced_at'])
    run = lab.deploy([STAGED], extra={'mailsec_mta_sts_tlsrpt_summary': CLEAN})
    assert run.rc == 0, run
    assert run.changed == 0, run
    due = (announced + datetime.timedelta(seconds=3)).strftime('%Y-%m-%dT%H:%M:%SZ')
    if _utcnow() < announced + datetime.timedelta(seconds=3):
        assert 'the next step 6 is due at %s' % due in run.output


def test_staging_holds_while_reports_show_failures_or_are_missing(lab):
    domain = 'dl-staging.test'
    _sleep_until(_time(_state(lab, domain)['announcements'][-1]['announced_at']) + datetime.timedelta(seconds=3))
    for summary, why in ((FAILING, 'senders reported 2 failed session(s)'), ({}, 'no TLS-RPT summary for dl-staging.test')):
        run = lab.deploy([STAGED], extra={'mailsec_mta_sts_tlsrpt_summary': summary})
        assert run.rc == 0, run
        assert run.changed == 0, run
        assert 'the next step 6 is due, but %s' % why in run.output
        assert 'max_age: 3\n' in lab.fetch(domain)[2]


def test_staging_raise_interrupted_after_dns_then_completed_with_a_later_start(lab):
    domain = 'dl-staging.test'
    old_id = base._sts_id(lab, domain)
    # Killed after DNS took the new id, before the state recorded it.
    held = Held(lab, 'staging-state', 'Record that DNS announces the new policy id of %s' % domain,
                {'mailsec_mta_sts_deploy_domains': [STAGED], 'mailsec_mta_sts_tlsrpt_summary': CLEAN})
    held.wait_until_held()
    killed_at = _utcnow().replace(microsecond=0)
    assert held.kill() == -signal.SIGKILL
    new_id = base._sts_id(lab, domain)
    assert new_id != old_id and 'max_age: 6\n' in lab.fetch(domain)[2]
    assert _state(lab, domain)['announcements'][-1]['id'] == old_id

    time.sleep(1.2)
    rerun_at = _utcnow().replace(microsecond=0)
    run = lab.deploy([STAGED], extra={'mailsec_mta_sts_tlsrpt_summary': CLEAN})
    assert run.rc == 0, run
    # Only the state changed: the live id is taken as announced at this run, never earlier.
    assert _changed_tasks(run.output) == ['Record when %s announced its policy id (state in %s)'
                                          % (domain, lab.info['role_vars']['mailsec_mta_sts_state_dir'])], run
    last = _state(lab, domain)['announcements'][-1]
    assert last['id'] == new_id and last['max_age'] == 6
    assert _time(last['announced_at']) >= rerun_at > killed_at
    assert 'the last step is reached' in run.output
    run = lab.deploy([STAGED], extra={'mailsec_mta_sts_tlsrpt_summary': CLEAN})
    assert run.rc == 0, run
    assert run.changed == 0, run
