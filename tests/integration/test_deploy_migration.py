# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""MX migration (issue 16 item 1) through real ansible-playbook runs against tests/lab/deploy_lab.py.

dl-migrate.test has MX mx1 and moves to mx2 (PLANNED_MX of the lab: an address and STARTTLS, no MX record yet),
in mode enforce with a max_age of MAX_AGE seconds, so that the waits are real but brief:
check mode and --diff; the covering run killed after DNS took the new id and before the announcement state was
written; the run that completes it (the live id recorded as announced then, never earlier); runs during the wait
(changed=0, the earliest switch reported); the wait over; the MX records switched (by the test, over RFC 2136);
the run that drops the old host; the run after it (changed=0). The audit's planned_mx judges each step.
Uses the lab fixture of test_deploy.py (one lab for this module).
"""

from __future__ import absolute_import, division, print_function

import json
import os
import re
import time

import test_deploy as base
from test_deploy import deploy_lab
from test_deploy_faults import Held

import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.tsigkeyring  # noqa: E402
import dns.update  # noqa: E402

from ansible_collections.mailsec.mta_sts.plugins.module_utils.migration import to_seconds

lab = base.lab  # the lab fixture of test_deploy.py: this module gets a lab of its own

DOMAIN = 'dl-migrate.test'
OLD = 'mx1.%s' % DOMAIN
NEW = 'mx2.%s' % DOMAIN
MAX_AGE = 150  # longer than three runs of the role on a loaded machine (about 40 s each): runs inside the wait
RUA = ['mailto:tlsrpt@%s' % DOMAIN]
ENTRY = {'domain': DOMAIN, 'tlsrpt_rua': RUA, 'max_age': MAX_AGE, 'mode': 'enforce'}
MIGRATE = dict(ENTRY, planned_mx=[NEW])
STATS_ENV = {'ANSIBLE_SHOW_CUSTOM_STATS': 'true'}
# The task of tasks/announce.yml that writes the announcement state, after DNS answers the new id.
STATE_TASK = 'Record that DNS announces the new policy id of %s' % DOMAIN


def _stats(run):
    """The set_stats data of a run (ANSIBLE_SHOW_CUSTOM_STATS)."""
    return json.loads(run.output.split('CUSTOM STATS:', 1)[1].split('RUN:', 1)[1].strip().splitlines()[0])


def _migration(run):
    """The role's MX migration report of DOMAIN in this run."""
    reports = [item for item in _stats(run)['mailsec_mta_sts_migrations'] if item['domain'] == DOMAIN]
    assert len(reports) == 1, run
    return reports[0]


def _state(lab_):
    path = os.path.join(lab_.info['role_vars']['mailsec_mta_sts_state_dir'], DOMAIN + '.json')
    return json.loads(base._read(path)) if os.path.exists(path) else None


def _audit(lab_):
    return lab_.audit([DOMAIN], require_mode='enforce', planned_mx=[NEW])[DOMAIN]


def _codes(audited):
    return [item['code'] for item in audited['findings']]


def _switch_mx(lab_, hosts):
    """The MX records of DOMAIN replaced by HOSTS, over RFC 2136 with the lab's TSIG key (what the operator does)."""
    tsig = lab_.info['tsig']
    keyring = dns.tsigkeyring.from_text({tsig['name']: tsig['secret']})
    update = dns.update.Update(DOMAIN, keyring=keyring, keyalgorithm=tsig['algorithm'])
    update.delete('@', 'MX')
    for index, host in enumerate(hosts):
        update.add('@', 60, 'MX', '%d %s.' % (10 * (index + 1), host))
    reply = dns.query.tcp(update, deploy_lab.DNS_IP, port=deploy_lab.DNS_PORT, timeout=5)
    assert reply.rcode() == 0, reply


def _mx(lab_):
    reply = dns.query.udp(dns.message.make_query(DOMAIN, 'MX'), deploy_lab.DNS_IP, port=deploy_lab.DNS_PORT, timeout=2)
    return sorted(rdata.exchange.to_text().rstrip('.') for rrset in reply.answer for rdata in rrset)


def _served_mx(lab_):
    body = lab_.fetch(DOMAIN)[2]
    return sorted(line.split(': ', 1)[1] for line in body.splitlines() if line.startswith('mx: '))


def test_domain_in_enforce_before_the_migration(lab):
    run = lab.deploy([dict(ENTRY, mode='testing')])
    assert run.rc == 0, run
    run = lab.deploy([ENTRY])
    assert run.rc == 0, run
    assert 'ENFORCE OVERRIDE:' not in run.output
    audited = _audit(lab)
    assert audited['status'] == 'pass', audited['findings']
    assert audited['policy']['mode'] == 'enforce' and audited['policy']['max_age'] == MAX_AGE
    # The audit judges the planned host against the served policy: not covered, switching now would bounce mail.
    assert audited['migration']['uncovered'] == [NEW] and audited['migration']['safe_now'] is False
    planned = [item for item in audited['findings'] if item['code'] == 'mx-planned-not-covered']
    assert len(planned) == 1 and planned[0]['severity'] == 'warning'
    assert 'senders holding this enforce policy would refuse to deliver to them' in planned[0]['message']
    assert _state(lab)['announcements'][-1]['mx'] == [OLD]


def test_check_mode_shows_the_covering_policy_and_changes_nothing(lab):
    before = {'id': base._sts_id(lab, DOMAIN), 'policy': base._read(lab.policy_file(DOMAIN)), 'state': _state(lab)}
    run = lab.deploy([MIGRATE], check=True, diff=True, env=STATS_ENV)
    assert run.rc == 0, run
    assert run.changed > 0, run  # the policy and the TXT record would change ...
    assert '+mx: %s' % NEW in run.output  # ... shown in the policy's diff
    assert '_mta-sts.%s TXT' % DOMAIN in run.output
    report = _migration(run)
    assert report['stage'] == 'wait' and report['policy_mx'] == [OLD, NEW]
    assert report['message'].startswith('check mode: ')
    assert {'id': base._sts_id(lab, DOMAIN), 'policy': base._read(lab.policy_file(DOMAIN)),
            'state': _state(lab)} == before  # ... and nothing changed


def test_covering_run_killed_before_the_state_write_then_a_later_run_completes(lab):
    old_id = base._sts_id(lab, DOMAIN)
    held = Held(lab, 'migrate-killed', STATE_TASK, {'mailsec_mta_sts_deploy_domains': [MIGRATE]})
    assert held.wait_until_held() == STATE_TASK
    assert held.kill() != 0
    # Killed after DNS took the covering id, before the state knew it.
    covering_id = base._sts_id(lab, DOMAIN)
    assert covering_id != old_id
    assert _served_mx(lab) == [OLD, NEW]
    assert _state(lab)['announcements'][-1]['id'] == old_id

    started = time.time()
    run = lab.deploy([MIGRATE], env=STATS_ENV)
    assert run.rc == 0, run
    report = _migration(run)
    assert report['stage'] == 'wait' and report['covering_id'] == covering_id
    # Safe by construction: the id the state did not know counts as announced in this run, never earlier.
    assert to_seconds(report['covering_since']) >= int(started)
    assert to_seconds(report['earliest_switch']) >= to_seconds(report['covering_since']) + MAX_AGE
    assert 'MX MIGRATION (wait): %s: the policy (id %s) covers the planned MX hosts %s' % (
        DOMAIN, covering_id, NEW) in run.output
    newest = _state(lab)['announcements'][-1]
    assert newest['id'] == covering_id and newest['announced_at'] == report['covering_since']
    assert _mx(lab) == [OLD]  # the role never touches the MX records


def test_runs_during_the_wait_report_the_switch_time_and_change_nothing(lab):
    state = _state(lab)
    run = lab.deploy([MIGRATE], env=STATS_ENV)
    assert run.rc == 0, run
    assert run.changed == 0, run
    report = _migration(run)
    assert time.time() < to_seconds(report['earliest_switch']), 'the run took longer than the wait: raise MAX_AGE'
    assert report['stage'] == 'wait' and report['wait_seconds'] > 0 and report['switch_now'] is False
    assert 'switch the MX records no earlier than %s' % report['earliest_switch'] in run.output
    assert _state(lab) == state
    # The audit sees the covering policy: it has no state, its "since" is the policy's Last-Modified (the killed
    # run wrote the file, before the id was recorded), so its time is no later than the role's.
    audited = _audit(lab)
    assert audited['status'] == 'pass', audited['findings']
    migration = audited['migration']
    assert migration['covered'] == [NEW] and migration['uncovered'] == [] and migration['basis'] == 'last-modified'
    assert to_seconds(migration['safe_after']) <= to_seconds(report['earliest_switch'])
    if not migration['safe_now']:
        assert 'mx-planned-wait' in _codes(audited)
    # The stage can be asked alone: --tags migrate reads, reports and changes nothing.
    run = lab.playbook_run(extra={'mailsec_mta_sts_deploy_domains': [MIGRATE]}, env=dict(STATS_ENV, ANSIBLE_RUN_TAGS='migrate'))
    assert run.rc == 0, run
    assert run.changed == 0, run
    assert _migration(run)['stage'] in ('wait', 'switch')


def test_after_the_wait_the_switch_is_due(lab):
    earliest = to_seconds(_migration_from_state(lab))
    while time.time() < earliest + 1:
        time.sleep(0.5)
    run = lab.deploy([MIGRATE], env=STATS_ENV)
    assert run.rc == 0, run
    assert run.changed == 0, run
    report = _migration(run)
    assert report['stage'] == 'switch' and report['switch_now'] is True
    assert 'the MX records may be switched now' in run.output
    audited = _audit(lab)
    assert 'mx-planned-ready' in _codes(audited) and audited['migration']['safe_now'] is True


def _migration_from_state(lab_):
    """The earliest switch as the role computes it, from the state file (what the last run reported)."""
    from ansible_collections.mailsec.mta_sts.plugins.module_utils.migration import earliest_switch, iso
    return iso(earliest_switch(_state(lab_), [NEW])['earliest_switch'])


def test_after_the_mx_switch_the_old_host_is_dropped(lab):
    covering_id = base._sts_id(lab, DOMAIN)
    _switch_mx(lab, [NEW])
    assert _mx(lab) == [NEW]
    run = lab.deploy([MIGRATE], env=STATS_ENV)
    assert run.rc == 0, run
    assert run.changed > 0, run
    report = _migration(run)
    assert report['stage'] == 'drop' and report['dropped'] == [OLD] and report['policy_mx'] == [NEW]
    assert 'drops the old hosts %s (new id)' % OLD in run.output
    assert _served_mx(lab) == [NEW]
    new_id = base._sts_id(lab, DOMAIN)
    assert new_id != covering_id and new_id == base._policy_id(lab.fetch(DOMAIN)[2])
    assert _state(lab)['announcements'][-1]['id'] == new_id
    audited = _audit(lab)
    assert audited['status'] == 'pass', audited['findings']
    assert [host['host'] for host in audited['mx']['hosts']] == [NEW]
    assert 'mx-planned-ready' in _codes(audited) or 'mx-planned-wait' in _codes(audited)  # the new file is covering
    # Done: the next run changes nothing and says so.
    run = lab.deploy([MIGRATE], env=STATS_ENV)
    assert run.rc == 0, run
    assert run.changed == 0, run
    assert _migration(run)['stage'] == 'done'
    assert re.search(r'MX MIGRATION \(done\): %s: .*the migration is complete' % re.escape(DOMAIN), run.output)
