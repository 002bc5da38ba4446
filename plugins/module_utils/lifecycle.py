# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What happens after the first deployment: the announcement state and the time decisions built on it.

No Ansible imports. The state of a domain is what the module mailsec.mta_sts.deploy_state keeps in a JSON
file beside the policy: ``{"domain": ..., "announcements": [{"id", "mode", "max_age", "mx", "announced_at"}, ...]}``
newest last. Senders cache a policy up to its max_age after they fetched it (RFC 8461 sections 3.3 and 5.1),
so every wait here is "the previous policies' max_age after the moment the newer id was announced".

Every function takes ``now`` (an aware UTC datetime, or the ISO text the module returns) as an argument.
An announcement is recorded no earlier than it happened (seconds rounded up, and an id the state does not
know is recorded as announced now), so that a wait computed here can only be too long, never too short.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

# How many announcements the state keeps at least (older ones go once no sender can still cache them).
KEEP = 10
MAX_MAX_AGE = 31557600  # RFC 8461 section 3.2
_TIME = re.compile(r'^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|\+00:00)$')
_ID = re.compile(r'^[A-Za-z0-9]{1,32}$')  # RFC 8461 section 3.1
_EPOCH = datetime.datetime(1970, 1, 1)


class LifecycleError(Exception):
    pass


class _UTC(datetime.tzinfo):
    def utcoffset(self, dt):
        return datetime.timedelta(0)

    def tzname(self, dt):
        return 'UTC'

    def dst(self, dt):
        return datetime.timedelta(0)


UTC = _UTC()


def utc_now():
    """The current time, aware, in UTC, rounded up to the second (an announcement is never recorded earlier)."""
    now = datetime.datetime.now(UTC)
    if now.microsecond:
        now = now.replace(microsecond=0) + datetime.timedelta(seconds=1)
    return now


def parse_time(value):
    """An aware UTC datetime from the ISO 8601 text the state holds ('2026-01-02T03:04:05Z'), or a datetime."""
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    found = _TIME.match(str(value or '').strip())
    if not found:
        raise LifecycleError('%r is not a UTC time like 2026-01-02T03:04:05Z' % (value,))
    return datetime.datetime(*(int(part) for part in found.groups()), tzinfo=UTC)


def format_time(value):
    """ISO 8601 UTC text with a Z, to the second."""
    return parse_time(value).strftime('%Y-%m-%dT%H:%M:%SZ')


def _later(when, seconds):
    return parse_time(when) + datetime.timedelta(seconds=int(seconds))


def empty_state(domain):
    return {'domain': domain, 'announcements': []}


def check_state(data, domain):
    """The state read from a file, checked; raises LifecycleError saying what is wrong with it."""
    if not isinstance(data, dict) or not isinstance(data.get('announcements'), list):
        raise LifecycleError('the state of %s is not an object with a list "announcements"' % domain)
    if data.get('domain') != domain:
        raise LifecycleError('the state file is for domain %r, not %s' % (data.get('domain'), domain))
    announcements = []
    for number, item in enumerate(data['announcements'], 1):
        where = 'announcement %d of the state of %s' % (number, domain)
        if not isinstance(item, dict):
            raise LifecycleError('%s is not an object' % where)
        if not _ID.match(str(item.get('id') or '')):
            raise LifecycleError('%s has no valid policy id (1 to 32 letters and digits)' % where)
        try:
            max_age = int(item.get('max_age'))
        except (TypeError, ValueError):
            raise LifecycleError('%s has no max_age in seconds' % where)
        if not 0 <= max_age <= MAX_MAX_AGE:
            raise LifecycleError('%s has max_age %d, outside 0..%d' % (where, max_age, MAX_MAX_AGE))
        announcements.append({'id': item['id'], 'mode': str(item.get('mode') or ''), 'max_age': max_age,
                              'mx': [str(host) for host in item.get('mx') or []],
                              'announced_at': format_time(item.get('announced_at'))})
    for before, after in zip(announcements, announcements[1:]):
        if parse_time(after['announced_at']) < parse_time(before['announced_at']):
            raise LifecycleError('the announcements of %s are not in time order (newest last)' % domain)
    return {'domain': domain, 'announcements': announcements}


def newest(state):
    """The newest announcement, or None."""
    announcements = (state or {}).get('announcements') or []
    return announcements[-1] if announcements else None


def _index(state, policy_id):
    """The index of the newest announcement of POLICY_ID, or None."""
    announcements = state['announcements']
    for index in range(len(announcements) - 1, -1, -1):
        if announcements[index]['id'] == policy_id:
            return index
    return None


def find(state, policy_id):
    """The newest announcement of POLICY_ID, or None."""
    index = _index(state, policy_id)
    return None if index is None else state['announcements'][index]


def caches_clear_at(state, policy_id):
    """The moment after which no sender can still hold a policy announced before POLICY_ID's announcement.

    A sender may have fetched policy k just before policy k+1 was announced and keep it max_age(k) (RFC 8461
    section 5.1), so this is the latest of announced_at(k+1) + max_age(k) over every earlier k - not only the
    previous one (a long max_age two policies back can outlast a short one in between). None: the id is not in
    the state (record it first). The id's own announced_at when nothing was announced before it.
    """
    index = _index(state, policy_id)
    if index is None:
        return None
    announcements = state['announcements']
    clear = parse_time(announcements[index]['announced_at'])
    for k in range(index):
        clear = max(clear, _later(announcements[k + 1]['announced_at'], announcements[k]['max_age']))
    return clear


def earliest_switch(state, covering_id):
    """MX migration: when the MX records may switch to hosts only the policy COVERING_ID lists (RFC 8461 section 4.1)."""
    return caches_clear_at(state, covering_id)


def earliest_removal(state):
    """Opt-out (RFC 8461 section 8.3): when the records and policy host may go - None unless the newest is mode none."""
    last = newest(state)
    if not last or last['mode'] != 'none':
        return None
    return caches_clear_at(state, last['id'])


def is_due(when, now):
    """Whether the moment WHEN (datetime or ISO text; None: never) has come at NOW."""
    return when is not None and parse_time(now) >= parse_time(when)


def _expired(state, index, now):
    """Whether no sender can still hold announcement INDEX (a newer one exists and its max_age has passed)."""
    announcements = state['announcements']
    return index + 1 < len(announcements) and \
        parse_time(now) >= _later(announcements[index + 1]['announced_at'], announcements[index]['max_age'])


def record(state, policy_id, mode, max_age, mx, now, keep=KEEP):
    """(new state, changed): POLICY_ID recorded as announced at NOW unless it is the newest already.

    Keeps the last KEEP announcements, and older ones only while a sender could still cache them.
    """
    if not _ID.match(str(policy_id or '')):
        raise LifecycleError('%r is not a policy id (1 to 32 letters and digits, RFC 8461 section 3.1)' % (policy_id,))
    last = newest(state)
    if last and last['id'] == policy_id:
        return state, False
    entry = {'id': policy_id, 'mode': mode or '', 'max_age': int(max_age or 0), 'mx': list(mx or []),
             'announced_at': format_time(now)}
    if last and parse_time(entry['announced_at']) < parse_time(last['announced_at']):
        entry['announced_at'] = last['announced_at']  # a clock that went back: never before the previous one
    new = {'domain': state['domain'], 'announcements': list(state['announcements']) + [entry]}
    while len(new['announcements']) > max(int(keep), 2) and _expired(new, 0, now):
        new['announcements'].pop(0)
    return new, True


def reconcile(state, live_id, mode, max_age, mx, now, keep=KEEP):
    """(new state, changed): the id DNS announces now recorded as announced NOW when the state does not end with it.

    The state was lost, this is the role's first run for the domain, or a run stopped after DNS took the id
    and before the state was written: taking NOW (never earlier) makes every wait longer, never shorter.
    """
    if not live_id:
        return state, False
    return record(state, live_id, mode, max_age, mx, now, keep)


def reports_clean(summary, domain):
    """(clean, why) from the per-domain TLS-RPT summary of mailsec.mta_sts.tlsrpt_info (RFC 8460 section 4.4).

    The same rule as the audit's finding tlsrpt-reported-failures; no summary for the domain is not clean.
    """
    item = (summary or {}).get(domain)
    if not isinstance(item, dict):
        return False, 'no TLS-RPT summary for %s was given (mailsec_mta_sts_tlsrpt_summary)' % domain
    failed = int(item.get('failed_sessions') or 0)
    malformed = int(item.get('malformed_reports') or 0)
    if failed or malformed:
        return False, 'senders reported %d failed session(s) and %d unreadable report(s)' % (failed, malformed)
    return True, 'senders reported %d successful session(s) and no failures' % int(item.get('successful_sessions') or 0)


def _steps(steps):
    try:
        values = sorted(set(int(step) for step in steps or []))
    except (TypeError, ValueError):
        raise LifecycleError('max_age_steps must be a list of seconds, not %r' % (steps,))
    if values and not (0 < values[0] and values[-1] <= MAX_MAX_AGE):
        raise LifecycleError('max_age_steps must lie between 1 and %d seconds, not %r' % (MAX_MAX_AGE, steps))
    return values


def staged_max_age(steps, state, now, clean, why=''):
    """max_age staging: the max_age to publish now, and why, from STEPS (seconds) and the state.

    Starts at the first step; raises to the next step once the current max_age has been announced without a
    break for at least that max_age (every sender has had a chance to see it expire) and the TLS reports are
    CLEAN. A max_age above the last step is kept (staging never lowers it). Returns max_age, step (index or
    None), raise_at (ISO text or None, when the next step is due on time) and reason.
    """
    steps = _steps(steps)
    if not steps:
        raise LifecycleError('max_age_steps is empty')
    last = newest(state)
    if last is None or last['mode'] == 'none':
        return {'max_age': steps[0], 'step': 0, 'raise_at': None, 'reason': 'first step'}
    current = last['max_age']
    higher = [step for step in steps if step > current]
    if not higher:
        return {'max_age': current, 'step': len(steps) - 1 if current == steps[-1] else None, 'raise_at': None,
                'reason': 'the last step is reached'}
    since = last['announced_at']
    for item in reversed(state['announcements']):
        if item['max_age'] != current or item['mode'] == 'none':
            break
        since = item['announced_at']
    raise_at = _later(since, current)
    keep = {'max_age': current, 'step': steps.index(current) if current in steps else None,
            'raise_at': format_time(raise_at)}
    if not is_due(raise_at, now):
        return dict(keep, reason='max_age %d is announced since %s; the next step %d is due at %s'
                    % (current, since, higher[0], format_time(raise_at)))
    if not clean:
        return dict(keep, reason='the next step %d is due, but %s' % (higher[0], why or 'the TLS reports are not clean'))
    return {'max_age': higher[0], 'step': steps.index(higher[0]), 'raise_at': None,
            'reason': 'max_age %d was announced for %d s and the TLS reports are clean: raised to %d'
                      % (current, current, higher[0])}


def live_announcement(live):
    """The announcement of the id DNS announces now, from the audit's result for the domain, or None.

    When the audit could not read the policy that id names, its max_age is not known: the RFC's largest
    (RFC 8461 section 3.2) is taken, so that a wait computed from it is never too short.
    """
    live = live or {}
    policy_id = ((live.get('record') or {}).get('id')) or ''
    if not policy_id:
        return None
    policy = live.get('policy') or {}
    max_age = policy.get('max_age')
    return {'id': policy_id, 'mode': policy.get('mode') or '',
            'max_age': int(max_age) if isinstance(max_age, int) else MAX_MAX_AGE, 'mx': list(policy.get('mx') or [])}


# --- the role's lifecycle decision for one domain ---------------------------------------------------------

OPT_OUT_PROVIDERS = ('nsupdate', 'powerdns')  # providers whose records the role can remove (tested on the lab)


def _entry_or(entry, key, default):
    value = (entry or {}).get(key)
    return default if value is None else value


def _bool(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ('1', 'true', 'yes', 'on', 'y', 't')


def plan(entry, settled, state_result, settings):
    """What this run does to the domain's mode and max_age, and which opt-out phase it is in.

    ENTRY is the inventory entry, SETTLED the deploy role's settled entry (deploy.settle_entry), STATE_RESULT the
    result of mailsec.mta_sts.deploy_state (state, now), SETTINGS the role-wide values emergency_downgrade,
    max_age_steps, opt_out_max_age, remove_tlsrpt and tlsrpt_summary. Returns mode, max_age, downgrade (bool),
    opt_out (phase publish / wait / remove, or None; earliest_removal; remove_tlsrpt), staging (or None) and
    lines (what the run reports).
    """
    state = (state_result or {}).get('state') or empty_state(settled.get('domain'))
    now = parse_time((state_result or {}).get('now') or utc_now())
    domain = settled['domain']
    mode = settled['mode']
    max_age = int(settled['max_age'])
    live_id = settled.get('live_id') or ''
    last = newest(state)
    result = {'domain': domain, 'mode': mode, 'max_age': max_age, 'downgrade': False, 'opt_out': None,
              'removing': False, 'staging': None, 'lines': []}

    wanted = _entry_or(entry, 'state', 'present')
    if wanted not in ('present', 'absent'):
        raise LifecycleError('state of %s must be present or absent, not %r' % (domain, wanted))
    if wanted == 'absent':
        if settled.get('dns_provider') not in OPT_OUT_PROVIDERS:
            raise LifecycleError('the opt-out of %s removes DNS records, which the role does for %s only, not %s; '
                                 'publish mode none yourself and remove the records after max_age'
                                 % (domain, ' and '.join(OPT_OUT_PROVIDERS), settled.get('dns_provider')))
        opt_out = {'remove_tlsrpt': _bool(_entry_or(entry, 'remove_tlsrpt', settings.get('remove_tlsrpt'))),
                   'earliest_removal': None}
        result.update(mode='none', max_age=int(settings.get('opt_out_max_age') or max_age), opt_out=opt_out)
        announced_none = last is not None and last['mode'] == 'none' and last['id'] == live_id
        if not live_id:
            # RFC 8461 section 8.3: the TXT record goes first; without it the removal is done or under way.
            opt_out['phase'] = 'remove'
            result['lines'].append('OPT-OUT %s: no _mta-sts record is published; removing what is left of the '
                                   'policy host' % domain)
        elif announced_none:
            when = earliest_removal(state)
            opt_out['earliest_removal'] = format_time(when)
            opt_out['phase'] = 'remove' if is_due(when, now) else 'wait'
            result['lines'].append(
                'OPT-OUT %s: mode none announced at %s; %s' % (
                    domain, last['announced_at'],
                    'every earlier policy has expired from senders\' caches, removing the _mta-sts record%s and '
                    'the policy host' % (' and the TLS-RPT record' if opt_out['remove_tlsrpt'] else '')
                    if opt_out['phase'] == 'remove' else
                    'senders may still cache an earlier policy: the records and the policy host stay until %s '
                    '(the earliest removal), run again then' % opt_out['earliest_removal']))
        else:
            pending, _changed = record(state, 'pending', 'none', result['max_age'], [], now)
            opt_out['phase'] = 'publish'
            opt_out['earliest_removal'] = format_time(caches_clear_at(pending, 'pending'))
            result['lines'].append('OPT-OUT %s: publishing mode none with a new id (RFC 8461 section 8.3); the '
                                   'records and the policy host can be removed at the earliest at %s'
                                   % (domain, opt_out['earliest_removal']))
        result['removing'] = opt_out['phase'] == 'remove'
        return result

    if _bool(_entry_or(entry, 'emergency_downgrade', settings.get('emergency_downgrade'))) and \
            'enforce' in (mode, settled.get('live_mode'), last['mode'] if last else ''):
        steps = _entry_or(entry, 'max_age_steps', settings.get('max_age_steps'))
        # With max_age staging, the downgrade keeps the max_age senders have now.
        result.update(mode='testing', downgrade=True, max_age=last['max_age'] if steps and last else max_age)
        held = caches_clear_at(record(state, 'pending', 'testing', max_age, [], now)[0], 'pending')
        result['lines'].append(
            'EMERGENCY DOWNGRADE %s: mode testing instead of enforce, with a new policy id, without the readiness '
            'gate. Senders switch when they next fetch the policy: on their next mail they see the new id and '
            'refetch (RFC 8461 section 5.1); a sender that does not check the record keeps its cached enforce '
            'policy until its max_age ends - at the latest %s. Set emergency_downgrade back to false (and mode '
            'to what you want) once the cause is fixed.' % (domain, format_time(held)))
        return result

    steps = _entry_or(entry, 'max_age_steps', settings.get('max_age_steps'))
    if steps and mode != 'none':
        clean, why = reports_clean(settings.get('tlsrpt_summary'), domain)
        staging = staged_max_age(steps, state, now, clean, why)
        result.update(max_age=staging['max_age'], staging=staging)
        result['lines'].append('MAX_AGE STAGING %s: max_age %d - %s' % (domain, staging['max_age'], staging['reason']))
    return result


def opt_out_records(settled, remove_tlsrpt):
    """The DNS records an opt-out removes, in order: the _mta-sts TXT first, then TLS-RPT if asked, then the policy host.

    RFC 8461 section 8.3. Each is the whole record set of that name and type (state absent).
    """
    domain = settled['domain']
    records = [{'name': '_mta-sts.%s' % domain, 'type': 'TXT', 'entries': [], 'state': 'absent'}]
    if remove_tlsrpt:
        records.append({'name': '_smtp._tls.%s' % domain, 'type': 'TXT', 'entries': [], 'state': 'absent'})
    records.extend({'name': 'mta-sts.%s' % domain, 'type': kind, 'entries': [], 'state': 'absent'}
                   for kind in ('CNAME', 'A', 'AAAA'))
    return records
