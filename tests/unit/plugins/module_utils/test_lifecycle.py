# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The announcement state and its time decisions (plugins/module_utils/lifecycle.py), one test per rule."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest

from ansible_collections.mailsec.mta_sts.plugins.module_utils import lifecycle as lc

T0 = '2026-01-01T00:00:00Z'


def at(seconds):
    return lc.parse_time(T0) + datetime.timedelta(seconds=seconds)


def state(*announcements):
    """A state from (id, mode, max_age, seconds after T0) tuples."""
    current = lc.empty_state('example.org')
    for policy_id, mode, max_age, when in announcements:
        current, changed = lc.record(current, policy_id, mode, max_age, ['mx1.example.org'], at(when))
        assert changed
    return current


# --- times -------------------------------------------------------------------------------------------

def test_times_round_trip_in_utc_with_z():
    assert lc.format_time('2026-01-02T03:04:05+00:00') == '2026-01-02T03:04:05Z'
    assert lc.format_time(lc.parse_time('2026-01-02T03:04:05.250Z')) == '2026-01-02T03:04:05Z'
    assert lc.parse_time(datetime.datetime(2026, 1, 2)).tzinfo is not None


@pytest.mark.parametrize('text', ['', 'yesterday', '2026-01-02 03:04:05', '2026-01-02T03:04:05+02:00', None])
def test_time_that_is_not_utc_iso_is_refused(text):
    with pytest.raises(lc.LifecycleError):
        lc.parse_time(text)


def test_now_is_rounded_up_so_an_announcement_is_never_recorded_early():
    before = datetime.datetime.now(lc.UTC)
    now = lc.utc_now()
    assert now.microsecond == 0 and now >= before.replace(microsecond=0)
    assert now - before < datetime.timedelta(seconds=1)


# --- record and reconcile ----------------------------------------------------------------------------

def test_record_appends_newest_last_and_a_repeat_changes_nothing():
    first = state(('a1', 'testing', 86400, 0))
    again, changed = lc.record(first, 'a1', 'testing', 86400, [], at(50))
    assert not changed and again is first
    second, changed = lc.record(first, 'b2', 'enforce', 604800, ['mx1.example.org'], at(60))
    assert changed
    assert [item['id'] for item in second['announcements']] == ['a1', 'b2']
    assert lc.newest(second) == {'id': 'b2', 'mode': 'enforce', 'max_age': 604800, 'mx': ['mx1.example.org'],
                                 'announced_at': '2026-01-01T00:01:00Z'}
    assert first['announcements'][-1]['id'] == 'a1'  # the input is not changed


def test_an_id_seen_again_after_another_is_a_new_announcement():
    current = state(('a1', 'testing', 10, 0), ('b2', 'enforce', 10, 5))
    current, changed = lc.record(current, 'a1', 'testing', 10, [], at(9))
    assert changed and [item['id'] for item in current['announcements']] == ['a1', 'b2', 'a1']
    assert lc.find(current, 'a1')['announced_at'] == lc.format_time(at(9))


def test_record_refuses_an_id_senders_would_not_accept():
    with pytest.raises(lc.LifecycleError, match='not a policy id'):
        lc.record(lc.empty_state('example.org'), 'has-dash', 'testing', 10, [], at(0))


def test_record_never_goes_before_the_previous_announcement():
    current = state(('a1', 'testing', 10, 100))
    current, _changed = lc.record(current, 'b2', 'testing', 10, [], at(50))  # the clock went back
    assert current['announcements'][-1]['announced_at'] == lc.format_time(at(100))


def test_record_keeps_the_last_ones_and_older_ones_still_cached():
    many = state(*[('id%d' % n, 'testing', 10, n * 100) for n in range(12)])
    assert [item['id'] for item in many['announcements']] == ['id%d' % n for n in range(2, 12)]
    # A long max_age keeps an old announcement while senders may still hold it.
    long_lived = state(*([('old', 'enforce', 31557600, 0)] + [('id%d' % n, 'testing', 10, n * 100) for n in range(1, 12)]))
    assert long_lived['announcements'][0]['id'] == 'old'
    assert len(long_lived['announcements']) == 12


def test_reconcile_takes_an_unknown_live_id_as_announced_now():
    current = state(('a1', 'testing', 86400, 0))
    current, changed = lc.reconcile(current, 'live9', 'enforce', 604800, [], at(3600))
    assert changed and lc.newest(current)['announced_at'] == lc.format_time(at(3600))
    assert lc.reconcile(current, 'live9', 'enforce', 604800, [], at(7200)) == (current, False)
    assert lc.reconcile(current, '', '', 0, [], at(7200)) == (current, False)  # DNS announces nothing


def test_check_state_reads_what_record_wrote_and_refuses_damage():
    current = state(('a1', 'testing', 86400, 0), ('b2', 'none', 86400, 10))
    assert lc.check_state(current, 'example.org') == current
    with pytest.raises(lc.LifecycleError, match='not example.net'):
        lc.check_state(current, 'example.net')
    for broken in ({}, {'domain': 'example.org', 'announcements': {}},
                   {'domain': 'example.org', 'announcements': [{'id': 'a1', 'max_age': 'soon', 'announced_at': T0}]},
                   {'domain': 'example.org', 'announcements': [{'id': 'a1', 'max_age': 10, 'announced_at': 'now'}]},
                   {'domain': 'example.org', 'announcements': [{'id': 'a1', 'max_age': 99999999, 'announced_at': T0}]},
                   {'domain': 'example.org', 'announcements': [
                       {'id': 'a1', 'max_age': 1, 'announced_at': '2026-01-02T00:00:00Z'},
                       {'id': 'b2', 'max_age': 1, 'announced_at': T0}]}):
        with pytest.raises(lc.LifecycleError):
            lc.check_state(broken, 'example.org')


# --- when caches are clear ----------------------------------------------------------------------------

def test_caches_clear_after_the_previous_max_age_from_the_new_announcement():
    current = state(('a1', 'enforce', 86400, 0), ('b2', 'testing', 600, 1000))
    assert lc.caches_clear_at(current, 'b2') == at(1000 + 86400)
    assert lc.earliest_switch(current, 'b2') == at(1000 + 86400)
    assert lc.caches_clear_at(current, 'a1') == at(0)  # nothing known before it
    assert lc.caches_clear_at(current, 'zz') is None  # not recorded: no time can be given


def test_a_long_max_age_two_policies_back_outlasts_a_short_one_in_between():
    current = state(('a1', 'enforce', 100000, 0), ('b2', 'testing', 10, 50), ('c3', 'testing', 10, 60))
    assert lc.caches_clear_at(current, 'c3') == at(50 + 100000)


def test_earliest_removal_only_after_mode_none_is_announced():
    assert lc.earliest_removal(state(('a1', 'enforce', 86400, 0))) is None
    assert lc.earliest_removal(lc.empty_state('example.org')) is None
    opted = state(('a1', 'enforce', 86400, 0), ('n0', 'none', 86400, 500))
    assert lc.earliest_removal(opted) == at(500 + 86400)


def test_is_due():
    assert lc.is_due(at(10), at(10)) and lc.is_due(lc.format_time(at(10)), at(11))
    assert not lc.is_due(at(10), at(9))
    assert not lc.is_due(None, at(9))


# --- TLS reports and max_age staging -----------------------------------------------------------------

def test_reports_clean_needs_a_summary_without_failures():
    assert lc.reports_clean({}, 'example.org')[0] is False
    assert lc.reports_clean({'example.org': {'failed_sessions': 2}}, 'example.org')[0] is False
    assert lc.reports_clean({'example.org': {'failed_sessions': 0, 'malformed_reports': 1}}, 'example.org')[0] is False
    clean, why = lc.reports_clean({'example.org': {'successful_sessions': 40, 'failed_sessions': 0}}, 'example.org')
    assert clean and '40 successful' in why


STEPS = [86400, 604800, 31557600]


def test_staging_starts_at_the_first_step():
    assert lc.staged_max_age(STEPS, lc.empty_state('example.org'), at(0), True)['max_age'] == 86400
    assert lc.staged_max_age(STEPS, state(('n0', 'none', 999, 0)), at(0), True)['max_age'] == 86400


def test_staging_waits_for_the_current_max_age_to_pass():
    current = state(('a1', 'testing', 86400, 0))
    decision = lc.staged_max_age(STEPS, current, at(86399), True)
    assert decision['max_age'] == 86400 and decision['step'] == 0
    assert decision['raise_at'] == lc.format_time(at(86400))
    assert lc.staged_max_age(STEPS, current, at(86400), True)['max_age'] == 604800


def test_staging_holds_while_reports_are_not_clean():
    decision = lc.staged_max_age(STEPS, state(('a1', 'testing', 86400, 0)), at(90000), False, 'senders reported 3 failed')
    assert decision['max_age'] == 86400 and 'senders reported 3 failed' in decision['reason']


def test_staging_counts_from_the_first_announcement_of_the_same_max_age():
    # An mx change at 80000 gives a new id with the same max_age: the step is still due at 86400.
    current = state(('a1', 'testing', 86400, 0), ('b2', 'testing', 86400, 80000))
    assert lc.staged_max_age(STEPS, current, at(86400), True)['max_age'] == 604800


def test_staging_never_lowers_and_stops_at_the_last_step():
    assert lc.staged_max_age(STEPS, state(('a1', 'enforce', 31557600, 0)), at(10 ** 9), True)['max_age'] == 31557600
    assert lc.staged_max_age([10, 20], state(('a1', 'enforce', 600, 0)), at(10 ** 6), True)['max_age'] == 600


def test_staging_refuses_steps_that_are_not_seconds():
    for steps in ([], ['soon'], [0, 10], [10, 99999999]):
        with pytest.raises(lc.LifecycleError):
            lc.staged_max_age(steps, lc.empty_state('example.org'), at(0), True)


def test_live_announcement_from_the_audit_and_the_largest_max_age_when_unknown():
    live = {'record': {'id': 'abc'}, 'policy': {'mode': 'enforce', 'max_age': 600, 'mx': ['mx1.example.org']}}
    assert lc.live_announcement(live) == {'id': 'abc', 'mode': 'enforce', 'max_age': 600, 'mx': ['mx1.example.org']}
    assert lc.live_announcement({'record': {'id': 'abc'}, 'policy': None})['max_age'] == 31557600
    assert lc.live_announcement({'record': {'id': None}}) is None


# --- plan: the role's lifecycle decision -------------------------------------------------------------

SETTLED = {'domain': 'example.org', 'mode': 'enforce', 'max_age': 604800, 'live_id': 'a1', 'live_mode': 'enforce',
           'dns_provider': 'nsupdate'}
SETTINGS = {'emergency_downgrade': False, 'max_age_steps': [], 'remove_tlsrpt': False, 'opt_out_max_age': 86400,
            'tlsrpt_summary': {}}


def decide(entry=None, settled=None, current=None, now=0, **settings):
    current = state(('a1', 'enforce', 600, 0)) if current is None else current
    return lc.plan(dict({'domain': 'example.org'}, **(entry or {})), dict(SETTLED, **(settled or {})),
                   {'state': current, 'now': lc.format_time(at(now))}, dict(SETTINGS, **settings))


def test_plan_without_lifecycle_settings_changes_nothing():
    result = decide()
    assert (result['mode'], result['max_age'], result['downgrade'], result['opt_out'], result['staging']) == \
        ('enforce', 604800, False, None, None)
    assert result['lines'] == [] and result['removing'] is False


def test_emergency_downgrade_turns_enforce_into_testing_and_says_when_caches_are_clear():
    result = decide(entry={'emergency_downgrade': True}, now=100)
    assert result['mode'] == 'testing' and result['downgrade'] is True
    assert 'at the latest %s' % lc.format_time(at(100 + 600)) in result['lines'][0]
    assert decide(now=100, emergency_downgrade=True)['downgrade'] is True  # the role-wide switch
    assert decide(entry={'emergency_downgrade': False}, now=100, emergency_downgrade=True)['downgrade'] is False


def test_emergency_downgrade_stays_in_effect_after_the_switch_and_leaves_testing_domains_alone():
    downgraded = state(('a1', 'enforce', 600, 0), ('b2', 'testing', 600, 50))
    again = decide(entry={'emergency_downgrade': True}, settled={'live_id': 'b2', 'live_mode': 'testing'},
                   current=downgraded, now=60)
    assert again['mode'] == 'testing' and again['downgrade'] is True
    testing_only = decide(entry={'emergency_downgrade': True}, current=state(('a1', 'testing', 600, 0)),
                          settled={'mode': 'testing', 'live_mode': 'testing'})
    assert testing_only['downgrade'] is False and testing_only['lines'] == []


def test_opt_out_publishes_mode_none_first():
    result = decide(entry={'state': 'absent'}, now=100)
    assert result['mode'] == 'none' and result['max_age'] == 86400
    assert result['opt_out']['phase'] == 'publish' and not result['removing']
    assert result['opt_out']['earliest_removal'] == lc.format_time(at(100 + 600))


def test_opt_out_waits_until_earlier_policies_expired_then_removes():
    opted = state(('a1', 'enforce', 600, 0), ('n0', 'none', 86400, 100))
    waiting = decide(entry={'state': 'absent'}, settled={'live_id': 'n0', 'live_mode': 'none'}, current=opted, now=699)
    assert waiting['opt_out']['phase'] == 'wait' and not waiting['removing']
    assert 'stay until %s' % lc.format_time(at(700)) in waiting['lines'][0]
    due = decide(entry={'state': 'absent', 'remove_tlsrpt': True}, settled={'live_id': 'n0', 'live_mode': 'none'},
                 current=opted, now=700)
    assert due['opt_out']['phase'] == 'remove' and due['removing'] and due['opt_out']['remove_tlsrpt'] is True


def test_opt_out_without_a_record_finishes_the_removal():
    result = decide(entry={'state': 'absent'}, settled={'live_id': '', 'live_mode': ''})
    assert result['removing'] is True


def test_opt_out_with_a_new_id_that_is_not_none_starts_over():
    # Someone published another policy after mode none: mode none is announced again, the wait starts again.
    opted = state(('a1', 'enforce', 600, 0), ('n0', 'none', 86400, 100), ('c3', 'testing', 300, 200))
    result = decide(entry={'state': 'absent'}, settled={'live_id': 'c3', 'live_mode': 'testing'}, current=opted, now=300)
    assert result['opt_out']['phase'] == 'publish'


def test_opt_out_is_refused_for_providers_whose_records_the_role_cannot_remove():
    with pytest.raises(lc.LifecycleError, match='nsupdate and powerdns only, not route53'):
        decide(entry={'state': 'absent'}, settled={'dns_provider': 'route53'})
    with pytest.raises(lc.LifecycleError, match='present or absent'):
        decide(entry={'state': 'gone'})


def test_opt_out_records_remove_the_sts_record_first():
    records = lc.opt_out_records({'domain': 'example.org'}, True)
    assert [(item['name'], item['type']) for item in records] == [
        ('_mta-sts.example.org', 'TXT'), ('_smtp._tls.example.org', 'TXT'), ('mta-sts.example.org', 'CNAME'),
        ('mta-sts.example.org', 'A'), ('mta-sts.example.org', 'AAAA')]
    assert all(item['state'] == 'absent' for item in records)
    assert '_smtp._tls.example.org' not in [item['name'] for item in lc.opt_out_records({'domain': 'example.org'}, False)]


def test_plan_stages_max_age_with_the_reports():
    clean = {'example.org': {'successful_sessions': 3, 'failed_sessions': 0}}
    current = state(('a1', 'testing', 600, 0))
    held = decide(settled={'mode': 'testing'}, current=current, now=599, max_age_steps=[600, 6000], tlsrpt_summary=clean)
    assert held['max_age'] == 600 and 'MAX_AGE STAGING example.org: max_age 600' in held['lines'][0]
    raised = decide(settled={'mode': 'testing'}, current=current, now=600, max_age_steps=[600, 6000], tlsrpt_summary=clean)
    assert raised['max_age'] == 6000
    unclean = decide(entry={'max_age_steps': [600, 6000]}, settled={'mode': 'testing'}, current=current, now=600)
    assert unclean['max_age'] == 600 and 'no TLS-RPT summary' in unclean['staging']['reason']


def test_downgrade_with_staging_keeps_the_max_age_senders_have():
    result = decide(entry={'emergency_downgrade': True}, max_age_steps=[600, 6000])
    assert result['max_age'] == 600
