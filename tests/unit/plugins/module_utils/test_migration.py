# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MX migration decisions (plugins/module_utils/migration.py), each rule by name."""

import pytest

from ansible_collections.mailsec.mta_sts.plugins.module_utils.migration import (
    MigrationError, covering, earliest_switch, iso, judge_planned_mx, migration_mx, migration_report,
    normalize_hosts, normalize_planned, parse_http_date, planned_for, to_seconds)

T0 = to_seconds('2026-12-02T01:00:00Z')


def policy(mode='enforce', mx=('mx1.example.org',), max_age=600):
    return {'version': 'STSv1', 'mode': mode, 'mx': list(mx), 'max_age': max_age, 'extensions': {}, 'warnings': []}


def announcement(id_, mx, at, max_age=600, mode='enforce'):
    return {'id': id_, 'mode': mode, 'max_age': max_age, 'mx': list(mx), 'announced_at': iso(at)}


def state_of(*announcements):
    return {'domain': 'example.org', 'announcements': list(announcements)}


def test_times_round_trip_and_round_up():
    assert iso(T0) == '2026-12-02T01:00:00Z'
    assert iso(T0 + 0.2) == '2026-12-02T01:00:01Z'  # never earlier than the real time
    assert to_seconds('2026-12-02T01:00:00+00:00') == T0 == to_seconds(T0)
    with pytest.raises(MigrationError):
        to_seconds('yesterday')


def test_http_date_of_last_modified():
    assert parse_http_date('Wed, 02 Dec 2026 01:00:00 GMT') == T0
    assert parse_http_date('not a date') is None
    assert parse_http_date(None) is None


def test_planned_hosts_are_normalized_and_bad_ones_named():
    assert normalize_hosts(['MX1.Example.ORG.', 'mx1.example.org', '*.new.example']) == [
        'mx1.example.org', '*.new.example']
    assert normalize_hosts('mx.example.org') == ['mx.example.org']
    with pytest.raises(MigrationError, match="'bad host' is not an MX host name"):
        normalize_hosts(['bad host'])
    with pytest.raises(MigrationError, match='must be a list'):
        normalize_hosts(42)
    with pytest.raises(MigrationError, match='at most'):
        normalize_hosts(['mx%d.example.org' % index for index in range(101)])


def test_planned_mx_option_as_list_or_per_domain():
    everywhere = normalize_planned(['mx2.example.org'])
    assert planned_for(everywhere, 'any.example') == ['mx2.example.org']
    per_domain = normalize_planned({'Example.ORG': ['mx2.example.org']})
    assert planned_for(per_domain, 'example.org') == ['mx2.example.org']
    assert planned_for(per_domain, 'other.example') == []
    assert planned_for(None, 'example.org') == []
    with pytest.raises(MigrationError, match='is not a domain'):
        normalize_planned({'a..b': ['mx.example.org']})


def test_covering_follows_rfc8461_section_4_1_one_label_wildcards():
    covered, uncovered = covering(['*.example.org', 'mx.other.example'], [
        'mx2.example.org', 'a.b.example.org', 'example.org', 'MX.Other.Example', '*.example.org', '*.new.example'])
    assert covered == {'mx2.example.org': '*.example.org', 'mx.other.example': 'mx.other.example',
                       '*.example.org': '*.example.org'}
    assert uncovered == ['a.b.example.org', 'example.org', '*.new.example']


# -- the audit's judgement ------------------------------------------------------------------------------

def test_audit_planned_host_not_covered_says_what_to_publish():
    evidence, findings = judge_planned_mx(['mx2.example.org'], {}, policy(), T0)
    assert evidence['uncovered'] == ['mx2.example.org'] and evidence['safe_now'] is False
    assert [item['code'] for item in findings] == ['mx-planned-not-covered']
    assert findings[0]['severity'] == 'warning'
    assert 'refuse to deliver' in findings[0]['message'] and '600 s' in findings[0]['message']


def test_audit_covered_recently_means_wait_until_last_modified_plus_max_age():
    served = {'last_modified': 'Wed, 02 Dec 2026 01:00:00 GMT', 'host': 'mta-sts.example.org'}
    evidence, findings = judge_planned_mx(['mx2.example.org'], served, policy(mx=['mx1.example.org', 'mx2.example.org']),
                                          T0 + 100)
    assert evidence['covering_since'] == '2026-12-02T01:00:00Z'
    assert evidence['safe_after'] == '2026-12-02T01:10:00Z'
    assert evidence['safe_now'] is False and evidence['basis'] == 'last-modified'
    assert [item['code'] for item in findings] == ['mx-planned-wait']
    assert '(500 s from now)' in findings[0]['message'] and 'at most 600 s' in findings[0]['message']


def test_audit_covered_long_enough_is_ready():
    served = {'last_modified': 'Wed, 02 Dec 2026 01:00:00 GMT'}
    evidence, findings = judge_planned_mx(['mx2.example.org'], served, policy(mx=['*.example.org']), T0 + 600)
    assert evidence['safe_now'] is True and evidence['covered'] == ['mx2.example.org']
    assert [(item['code'], item['severity']) for item in findings] == [('mx-planned-ready', 'info')]


def test_audit_without_last_modified_cannot_tell_since_when():
    evidence, findings = judge_planned_mx(['mx2.example.org'], {'host': 'mta-sts.example.org'},
                                          policy(mx=['mx2.example.org']), T0)
    assert evidence['safe_now'] is None and evidence['covering_since'] is None
    assert [item['code'] for item in findings] == ['mx-planned-since-unknown']
    assert 'mta-sts.example.org sent no Last-Modified' in findings[0]['message']


@pytest.mark.parametrize('parsed', [None, policy(mode='none', mx=[])])
def test_audit_without_a_policy_to_judge_against_says_so(parsed):
    _evidence, findings = judge_planned_mx(['mx2.example.org'], {}, parsed, T0)
    assert [(item['code'], item['severity']) for item in findings] == [('mx-planned-unchecked', 'info')]


# -- the role's policy during a migration --------------------------------------------------------------

def served(mx):
    return {'policy': {'mx': list(mx)}}


def settled(live, mx=(), known=True):
    return {'live_mx': list(live), 'mx': list(mx), 'live_mx_known': known}


def test_before_the_switch_the_policy_covers_current_and_planned_hosts():
    plan = migration_mx(settled(['mx1.example.org']), ['mx2.example.org'])
    assert plan['mx'] == ['mx1.example.org', 'mx2.example.org'] and not plan['switched'] and plan['stage'] == 'cover'
    # The entry's own mx patterns are the current ones when given.
    plan = migration_mx(settled(['mx1.example.org'], mx=['*.example.org']), ['mx.new.example'])
    assert plan['mx'] == ['*.example.org', 'mx.new.example']


def test_a_partial_switch_keeps_every_host_covered():
    plan = migration_mx(settled(['mx1.example.org', 'mx2.example.org']), ['mx2.example.org'])
    assert not plan['switched'] and plan['mx'] == ['mx1.example.org', 'mx2.example.org']


def test_after_the_switch_the_old_hosts_are_dropped():
    # The entry's own mx (the old hosts) no longer count once the MX records name only planned hosts.
    plan = migration_mx(settled(['mx2.example.org'], mx=['mx1.example.org']), ['mx2.example.org'],
                        served(['mx1.example.org', 'mx2.example.org']))
    assert plan['switched'] and plan['mx'] == ['mx2.example.org'] and plan['dropped'] == ['mx1.example.org']
    assert migration_mx(settled(['mx2.example.org'], mx=['mx1.example.org']), ['mx2.example.org'],
                        served(['mx2.example.org']))['dropped'] == []
    plan = migration_mx(settled(['mx2.example.org']), ['mx2.example.org'], served(['mx1.example.org', 'MX2.example.org']))
    assert plan['mx'] == ['mx2.example.org'] and plan['dropped'] == ['mx1.example.org']
    # An MX lookup that failed is no switch.
    assert not migration_mx(settled([], known=False), ['mx2.example.org'])['switched']


# -- the earliest switch from the announcement state ---------------------------------------------------

def test_no_covering_announcement_means_no_time_yet():
    state = state_of(
        announcement('a', ['mx1.example.org'], T0),
    )
    assert earliest_switch(state, ['mx2.example.org'])['covered'] is False
    assert earliest_switch({}, ['mx2.example.org'])['earliest_switch'] is None


def test_earliest_switch_is_the_previous_max_age_after_the_covering_announcement():
    state = state_of(
        announcement('old', ['mx1.example.org'], T0, max_age=30),
        announcement('cover', ['mx1.example.org', 'mx2.example.org'], T0 + 100, max_age=5),
    )
    when = earliest_switch(state, ['mx2.example.org'])
    assert when['covered'] and when['covering_id'] == 'cover' and when['covering_since'] == T0 + 100
    assert when['earliest_switch'] == T0 + 130  # the previous policy's max_age (30), not the covering one's (5)


def test_a_later_covering_announcement_does_not_restart_the_wait():
    state = state_of(
        announcement('old', ['mx1.example.org'], T0, max_age=30),
        announcement('cover', ['mx1.example.org', 'mx2.example.org'], T0 + 100, max_age=5),
        announcement('longer', ['mx1.example.org', 'mx2.example.org'], T0 + 110, max_age=60),
    )
    when = earliest_switch(state, ['mx2.example.org'])
    assert when['covering_id'] == 'cover' and when['earliest_switch'] == T0 + 130


def test_every_superseded_enforce_policy_without_the_host_limits_the_switch():
    state = state_of(
        announcement('long', ['mx1.example.org'], T0, max_age=1000),
        announcement('short', ['mx1.example.org'], T0 + 10, max_age=20),
        announcement('cover', ['mx1.example.org', 'mx2.example.org'], T0 + 50, max_age=20),
    )
    assert earliest_switch(state, ['mx2.example.org'])['earliest_switch'] == T0 + 1010


def test_a_testing_policy_without_the_host_limits_the_switch_too():
    # In mode testing senders deliver anyway (RFC 8461 section 5), but they report failures: the wait is the same.
    state = state_of(
        announcement('old', ['mx1.example.org'], T0, max_age=1000, mode='testing'),
        announcement('cover', ['mx1.example.org', 'mx2.example.org'], T0 + 50, max_age=20, mode='testing'),
    )
    assert earliest_switch(state, ['mx2.example.org'])['earliest_switch'] == T0 + 1050


def test_a_covering_oldest_announcement_waits_its_own_max_age():
    # Nothing older is known: the policy before it is taken to have had the same max_age (safe by construction).
    state = state_of(
        announcement('seen', ['*.example.org'], T0, max_age=60),
    )
    when = earliest_switch(state, ['mx2.example.org'])
    assert when['covering_since'] == T0 and when['earliest_switch'] == T0 + 60


def test_a_state_that_cannot_be_read_is_an_error():
    with pytest.raises(MigrationError):
        earliest_switch({'domain': 'example.org', 'announcements': [{'id': 'x', 'max_age': 5, 'announced_at': 'soon'}]},
                        ['mx2.example.org'])


def test_report_before_during_and_after_the_wait():
    state = state_of(
        announcement('old', ['mx1.example.org'], T0, max_age=30),
        announcement('cover', ['mx1.example.org', 'mx2.example.org'], T0 + 100, max_age=5),
    )
    plan = migration_mx(settled(['mx1.example.org']), ['mx2.example.org'])
    waiting = migration_report('example.org', plan, state, T0 + 110)
    assert waiting['stage'] == 'wait' and waiting['wait_seconds'] == 20 and not waiting['switch_now']
    assert waiting['earliest_switch'] == '2026-12-02T01:02:10Z'
    assert 'no earlier than 2026-12-02T01:02:10Z (in 20 s)' in waiting['message']
    due = migration_report('example.org', plan, state, T0 + 130)
    assert due['stage'] == 'switch' and due['switch_now'] and 'may be switched now' in due['message']
    uncovered = migration_report('example.org', plan, {'domain': 'example.org', 'announcements': state['announcements'][:1]}, T0, check_mode=True)
    assert uncovered['stage'] == 'cover' and uncovered['message'].startswith('check mode: example.org: a policy')
    assert 'would be published (check mode)' in uncovered['message']


def test_report_after_the_switch_names_the_dropped_hosts_and_an_early_switch():
    state = state_of(
        announcement('old', ['mx1.example.org'], T0, max_age=30),
        announcement('cover', ['mx1.example.org', 'mx2.example.org'], T0 + 100, max_age=5),
    )
    plan = migration_mx(settled(['mx2.example.org']), ['mx2.example.org'], served(['mx1.example.org', 'mx2.example.org']))
    early = migration_report('example.org', plan, state, T0 + 110)
    assert early['stage'] == 'drop' and 'drops the old hosts mx1.example.org' in early['message']
    assert 'The switch came before 2026-12-02T01:02:10Z' in early['message']
    done = migration_report('example.org', migration_mx(settled(['mx2.example.org']), ['mx2.example.org'],
                                                        served(['mx2.example.org'])), state, T0 + 200)
    assert done['stage'] == 'done' and 'the migration is complete' in done['message']
