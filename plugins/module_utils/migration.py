# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""MX migration: when may a domain's MX records point at new hosts without bouncing mail?

Pure Python, no Ansible imports; every function that needs the time takes ``now`` (seconds since the epoch).

A sender keeps the policy it fetched for up to that policy's max_age (RFC 8461 section 3.3 and 5.1); in mode
enforce it refuses to deliver to an MX host that no mx pattern of the cached policy matches (section 4.1,
one ``*.`` label at most). So before the MX records name new hosts, a policy covering the current and the
planned hosts must be served and announced with a new id, and every cached policy that does not cover the
planned hosts must have expired: the earliest switch is, for each superseded enforce policy that does not
cover them, the time its successor was announced plus its own max_age, the latest of these.

``judge_planned_mx`` is the audit's check (no state: the policy host's Last-Modified stands for "covering
since"); ``migration_mx``, ``earliest_switch`` and ``migration_report`` are the deploy role's decisions,
over the announcement state the role keeps beside the policy ({"announcements": [{"id", "mode", "max_age",
"mx", "announced_at"}, ...]}, newest last).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import email.utils
import time

from . import lifecycle
from .domain import DomainError, comparable_name, normalize_domain
from .findings import finding
from .policy import is_valid_mx_pattern, pattern_matcher

MAX_PLANNED_HOSTS = 100


class MigrationError(ValueError):
    """Planned MX hosts that are not host names, or a state that cannot be read; the message says which."""


# -- times ------------------------------------------------------------------------------------------------

def iso(seconds):
    """UTC ISO 8601 with a Z, whole seconds: the state file's and the reports' notation."""
    if seconds is None:
        return None
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(int(-(-seconds // 1))))  # rounded up: never earlier


def parse_http_date(text):
    """Seconds since the epoch of an HTTP-date (RFC 9110 section 5.6.7), or None when it is not one."""
    if not text:
        return None
    try:
        parsed = email.utils.parsedate_tz(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return float(email.utils.mktime_tz(parsed))


# -- planned hosts ------------------------------------------------------------------------------------------

def normalize_hosts(hosts, what='planned_mx'):
    """Planned MX hosts (names, or ``*.`` patterns) in lower-case A-labels; MigrationError naming a bad entry."""
    if isinstance(hosts, str):
        hosts = [hosts]
    if not isinstance(hosts, (list, tuple)):
        raise MigrationError('%s must be a list of MX host names, not %s' % (what, type(hosts).__name__))
    if len(hosts) > MAX_PLANNED_HOSTS:
        raise MigrationError('%s lists %d hosts; at most %d' % (what, len(hosts), MAX_PLANNED_HOSTS))
    out = []
    for host in hosts:
        if not isinstance(host, str) or not host.strip():
            raise MigrationError('%s: %r is not an MX host name' % (what, host))
        try:
            name = comparable_name(host.strip())
        except DomainError as exc:
            raise MigrationError('%s: %r is not an MX host name: %s' % (what, host, exc))
        if not is_valid_mx_pattern(name):
            raise MigrationError('%s: %r is not an MX host name or "*." pattern (RFC 8461 section 3.2)' % (what, host))
        if name not in out:
            out.append(name)
    return out


def normalize_planned(value):
    """The audit's planned_mx option - a list (for every domain) or a dict domain -> list - as a dict.

    The key ``*`` holds the hosts planned for every domain; MigrationError names a bad entry.
    """
    if value is None:
        return None
    if isinstance(value, dict):
        table = {}
        for domain, hosts in value.items():
            try:
                key = normalize_domain(str(domain))
            except DomainError as exc:
                raise MigrationError('planned_mx: the key %r is not a domain: %s' % (domain, exc))
            table[key] = normalize_hosts(hosts, 'planned_mx[%s]' % domain)
        return table
    return {'*': normalize_hosts(value)}


def planned_for(table, domain):
    """The planned MX hosts of ``domain`` in a table of ``normalize_planned`` ([] when none)."""
    if not table:
        return []
    return table.get(domain, table.get('*', []))


def covering(patterns, hosts):
    """(covered {host: pattern}, uncovered [hosts]) of ``hosts`` against mx ``patterns`` (RFC 8461 section 4.1).

    A planned ``*.`` pattern counts as covered only by the same pattern.
    """
    match = pattern_matcher(list(patterns or []))
    wanted = set(comparable_name(pattern) for pattern in patterns or [])
    covered, uncovered = {}, []
    for host in (comparable_name(host) for host in hosts):
        pattern = (host if host in wanted else None) if host.startswith('*.') else match(host)
        if pattern is None:
            uncovered.append(host)
        else:
            covered[host] = pattern
    return covered, uncovered


# -- the audit ----------------------------------------------------------------------------------------------

def check_planned_mx(table, result, parsed, now):
    """The audit's one call: with planned hosts for the domain, ``result['migration']`` and its findings."""
    planned = planned_for(table, result['domain'])
    if planned:
        result['migration'], findings = judge_planned_mx(planned, result['policy'] or {}, parsed, now)
        result['findings'].extend(findings)


def judge_planned_mx(planned, policy_evidence, parsed, now):
    """The audit's view of a planned MX switch: (evidence, findings).

    The audit keeps no state, so "covering since" is the policy host's Last-Modified (nginx and Apache send the
    file's time), and the max_age senders may still hold an older policy for is taken to be the current one's:
    a lower bound when max_age was lowered with the change (the messages say so).
    """
    evidence = {'planned_mx': list(planned), 'covered': [], 'uncovered': [], 'covering_since': None,
                'safe_after': None, 'safe_now': None, 'basis': None}
    if not parsed or parsed.get('mode') not in ('enforce', 'testing'):
        reason = 'no valid policy was read (see the policy findings)' if not parsed else 'the policy is in mode none'
        return evidence, [finding('mx-planned-unchecked', 'planned MX hosts %s: %s, so the audit cannot tell whether '
                                  'senders may be sent to them' % (', '.join(planned), reason))]
    covered, uncovered = covering(parsed['mx'], planned)
    evidence['covered'] = sorted(covered)
    evidence['uncovered'] = uncovered
    mode = parsed['mode']
    max_age = parsed['max_age']
    patterns = ', '.join(parsed['mx'])
    if uncovered:
        evidence['safe_now'] = False
        consequence = ('senders holding this enforce policy would refuse to deliver to them' if mode == 'enforce' else
                       'in mode testing senders would deliver but report failures')
        return evidence, [finding('mx-planned-not-covered', 'planned MX hosts %s match no mx pattern of the policy (%s): '
                                  '%s. Publish a policy covering the current and the planned hosts with a new id, '
                                  'then switch the MX records max_age (%d s) later' % (
                                      ', '.join(uncovered), patterns, consequence, max_age))]
    since = parse_http_date(policy_evidence.get('last_modified'))
    if since is None:
        evidence['safe_now'] = None
        return evidence, [finding('mx-planned-since-unknown', 'the policy covers the planned MX hosts %s, but %s sent no '
                                  'Last-Modified date, so the audit cannot tell since when; switch the MX records no '
                                  'earlier than max_age (%d s) after this policy was announced' % (
                                      ', '.join(planned), policy_evidence.get('host') or 'the policy host', max_age))]
    safe_after = since + max_age
    evidence.update({'covering_since': iso(since), 'safe_after': iso(safe_after), 'safe_now': now >= safe_after,
                     'basis': 'last-modified'})
    assumption = ('assuming the policy before it had a max_age of at most %d s; if max_age was longer before, wait '
                  'that long after %s instead' % (max_age, iso(since)))
    if now < safe_after:
        return evidence, [finding('mx-planned-wait', 'the policy covers the planned MX hosts %s since %s (Last-Modified), '
                                  'but senders may hold the previous policy until %s (%d s from now): switch the MX '
                                  'records after that; %s' % (', '.join(planned), iso(since), iso(safe_after),
                                                              int(-(-(safe_after - now) // 1)), assumption))]
    return evidence, [finding('mx-planned-ready', 'the policy covers the planned MX hosts %s since %s (Last-Modified): '
                              'the MX records may be switched since %s, %s' % (
                                  ', '.join(planned), iso(since), iso(safe_after), assumption))]


# -- the deploy role ----------------------------------------------------------------------------------------

def migration_mx(settled, planned, live=None):
    """The mx patterns of this run's policy during an MX migration, and whether the MX records were switched.

    ``settled`` is the role's settled entry (deploy.settle_entry), ``live`` the audit's result for the domain.
    Until the live MX hosts are all planned ones: the current patterns (the entry's mx, else the live MX hosts)
    plus the planned hosts. Once they are (the switch was made): the planned hosts only, dropping the old ones
    (``dropped``: the patterns of the served policy that go; none once the served policy lists only planned hosts).
    """
    planned = normalize_hosts(planned)
    served_mx = ((live or {}).get('policy') or {}).get('mx') or []
    current = [comparable_name(name) for name in (settled.get('mx') or settled.get('live_mx') or [])]
    live = [comparable_name(name) for name in settled.get('live_mx') or []]
    switched = bool(settled.get('live_mx_known')) and bool(live) and not covering(planned, live)[1]
    if switched:
        mx = list(planned)
        dropped = []
        for pattern in (comparable_name(name) for name in served_mx):
            if pattern not in planned and pattern not in dropped:
                dropped.append(pattern)
    else:
        mx = current + [host for host in planned if host not in current]
        dropped = []
    return {'planned': planned, 'current': current, 'live_mx': live, 'switched': switched, 'mx': mx,
            'dropped': dropped, 'stage': 'drop' if switched else 'cover'}


def to_seconds(value):
    """Seconds since the epoch of a time given as seconds, ISO 8601 UTC text or an aware datetime."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return (lifecycle.parse_time(value) - lifecycle.parse_time('1970-01-01T00:00:00Z')).total_seconds()
    except lifecycle.LifecycleError as exc:
        raise MigrationError(str(exc))


def earliest_switch(state, planned):
    """When the MX records may name the ``planned`` hosts, from the announcement state (newest last).

    Returns ``{'covered', 'covering_id', 'covering_since', 'earliest_switch'}`` (times in seconds). ``covered`` is
    False when the newest announcement does not cover every planned host: no time yet. Otherwise the covering
    policy is the first of the newest announcements that all cover them, and the switch waits until no sender can
    hold a policy announced before it (``lifecycle.caches_clear_at``: every earlier policy's max_age after its
    successor was announced; RFC 8461 sections 3.3 and 5.1). When the state knows nothing before the covering
    announcement (it recorded the live id when it first saw it), the policy before is taken to have had the same
    max_age and to have been replaced then, so the wait is never shorter than the covering policy's max_age.
    """
    planned = normalize_hosts(planned)
    none = {'covered': False, 'covering_id': None, 'covering_since': None, 'earliest_switch': None}
    if not (state or {}).get('announcements'):
        return none
    try:
        state = lifecycle.check_state(state, state.get('domain'))
    except lifecycle.LifecycleError as exc:
        raise MigrationError(str(exc))
    items = state['announcements']
    if covering(items[-1]['mx'], planned)[1]:
        return none
    first = len(items) - 1
    while first > 0 and not covering(items[first - 1]['mx'], planned)[1]:
        first -= 1
    cover = items[first]
    since = to_seconds(cover['announced_at'])
    before = {'domain': state['domain'], 'announcements': items[:first + 1]}
    clear = to_seconds(lifecycle.caches_clear_at(before, cover['id']))
    if first == 0:
        clear = max(clear, since + cover['max_age'])
    return {'covered': True, 'covering_id': cover['id'], 'covering_since': since, 'earliest_switch': clear}


def migration_report(domain, plan, state, now, check_mode=False):
    """What a run says about a domain's MX migration: a dict for the results and ``message``, one line.

    ``plan`` is ``migration_mx``'s answer, ``state`` the announcement state after this run's announcement (in
    check mode, as it would be), ``now`` the run's time (seconds, or the ISO text of deploy_state's ``now``).
    """
    report = _report(domain, plan, state, to_seconds(now), check_mode)
    if check_mode:
        report['message'] = 'check mode: ' + report['message']
    return report


def _report(domain, plan, state, now, check_mode):
    planned = plan['planned']
    report = {'domain': domain, 'planned_mx': planned, 'stage': plan['stage'], 'policy_mx': plan['mx'],
              'dropped': plan['dropped'], 'switched': plan['switched'], 'covering_id': None,
              'covering_since': None, 'earliest_switch': None, 'wait_seconds': None, 'switch_now': False}
    hosts = ', '.join(planned)
    if plan['switched']:
        report['stage'] = 'done' if not plan['dropped'] else 'drop'
        when = earliest_switch(state, planned)
        early = ''
        if when['earliest_switch'] is not None and when['covering_since'] is not None and \
                when['covering_since'] < when['earliest_switch'] and now < when['earliest_switch']:
            early = (' The switch came before %s: until then senders holding an older policy may refuse the new '
                     'hosts.' % iso(when['earliest_switch']))
        report['message'] = '%s: the MX records name the planned hosts %s; %s.%s' % (
            domain, hosts, ('the policy %s the old hosts %s (new id)' % (
                'would drop' if check_mode else 'drops', ', '.join(plan['dropped'])))
            if plan['dropped'] else 'the policy lists only them: the migration is complete', early)
        return report
    when = earliest_switch(state, planned)
    if not when['covered']:
        report['stage'] = 'cover'
        report['message'] = ('%s: a policy covering the current and the planned MX hosts (%s) %s; the MX records may be '
                             'switched the previous max_age after it is announced, as the next run reports' % (
                                 domain, ', '.join(plan['mx']),
                                 'would be published (check mode)' if check_mode else 'is not announced yet'))
        return report
    at = when['earliest_switch']
    wait = max(0, int(-(-(at - now) // 1)))
    report.update({'covering_id': when['covering_id'], 'covering_since': iso(when['covering_since']),
                   'earliest_switch': iso(at), 'wait_seconds': wait, 'switch_now': now >= at,
                   'stage': 'switch' if now >= at else 'wait'})
    if now >= at:
        report['message'] = ('%s: the policy (id %s) covers the planned MX hosts %s since %s; the MX records may be '
                             'switched now (since %s)' % (domain, when['covering_id'], hosts,
                                                          iso(when['covering_since']), iso(at)))
    else:
        report['message'] = ('%s: the policy (id %s) covers the planned MX hosts %s since %s; switch the MX records '
                             'no earlier than %s (in %d s): until then senders may hold a policy without them' % (
                                 domain, when['covering_id'], hosts, iso(when['covering_since']), iso(at), wait))
    return report
