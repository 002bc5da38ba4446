# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report as data: merging audit results, the weighted score, the diff against an earlier report, the
history of earlier runs, and the comparison that ignores what changes on every run.

Controller-only (the action plugin mailsec.mta_sts.report and the unit tests); no Ansible imports. What the
renderers show is built here once; see docs/docsite/rst/reports.rst for the JSON schema.
"""

import json
import os
import re

from ansible_collections.mailsec.mta_sts.plugins.module_utils.clip import clip
from ansible_collections.mailsec.mta_sts.plugins.module_utils.findings import CATALOG
from ansible_collections.mailsec.mta_sts.plugins.module_utils.verdict import (EFFECTS, STATUS_ORDER, STATUSES,
                                                                              control_status, count_statuses)

SCHEMA = 'mailsec.mta_sts.report/v1'
COLLECTION = 'mailsec.mta_sts'
EFFECT_RANK = dict((name, index) for index, name in enumerate(EFFECTS))
_RANK = dict((status, index) for index, status in enumerate(STATUS_ORDER))

# The longest input kept for a domain entry (a name has at most 253 characters): a 200 KB entry in a domain
# list is reported, clipped, in every format.
INPUT_LIMIT = 512
# How many earlier runs a report remembers for its trend.
HISTORY_LIMIT = 30
# The evidence of a domain result, each a mapping or null (see the audit module's RETURN).
EVIDENCE_KEYS = ('record', 'policy', 'mx', 'tlsrpt')


class ReportError(ValueError):
    """An input that is neither an audit result nor a report; the message says which one and why."""


# ------------------------------------------------------------------------------------------------
# inputs and merging

def is_report(value):
    return isinstance(value, dict) and str(value.get('schema', '')).startswith('mailsec.mta_sts.report/')


def domains_of(value, where='result'):
    """The domain results held by one audit result (mailsec.mta_sts.audit) or one JSON report."""
    if not isinstance(value, dict):
        raise ReportError('%s is a %s, not an audit result or a report' % (where, type(value).__name__))
    if value.get('failed'):
        raise ReportError('%s is a failed task result: %s' % (where, clip(value.get('msg', 'no message'))))
    domains = value.get('domains')
    if not isinstance(domains, list) or not all(isinstance(item, dict) and 'status' in item for item in domains):
        raise ReportError('%s has no list of domain results (register the result of mailsec.mta_sts.audit, '
                          'or give a JSON report of mailsec.mta_sts.report)' % where)
    for item in domains:
        name = clip(repr(item.get('domain') or item.get('input')), 80)
        if item['status'] not in STATUSES:
            raise ReportError('%s: domain %s has status %s, not one of %s' % (
                where, name, clip(repr(item['status']), 80), ', '.join(STATUSES)))
        for key in ('findings', 'enforce_blockers'):
            entries = item.get(key)
            if entries is not None and not (isinstance(entries, list) and all(isinstance(e, dict) for e in entries)):
                raise ReportError('%s: domain %s has %s that are not a list of findings' % (where, name, key))
        for key in EVIDENCE_KEYS:
            if item.get(key) is not None and not isinstance(item[key], dict):
                raise ReportError('%s: domain %s has %s evidence that is not a mapping' % (where, name, key))
    return domains


def domain_key(item):
    """What makes two results the same domain: the normalized name, or the input for an invalid entry."""
    if item.get('domain'):
        return 'domain:' + item['domain']
    return 'input:' + json.dumps(item.get('input'), sort_keys=True, ensure_ascii=False, default=str)


def merge_domains(results):
    """One list of domain results out of several results (AWX job slices, parallel runs, earlier reports).

    A domain that appears in more than one result is kept once: the result with the most severe status
    (fail, unknown, pass, skipped) wins, the first one on a tie, so a slice that passed never hides a slice
    that failed. The list is sorted by domain (then input), so the merge does not depend on how the
    domains were split: two slices merge into exactly what one unsliced run gives.
    """
    kept = {}
    for position, result in enumerate(results):
        for item in domains_of(result, 'results[%d]' % position):
            key = domain_key(item)
            if key not in kept or _RANK[item['status']] < _RANK[kept[key]['status']]:
                kept[key] = item
    return [kept[key] for key in sorted(kept)]


def collection_version(root):
    """The collection's version: MANIFEST.json of an installed collection, else galaxy.yml of a checkout."""
    manifest = os.path.join(root, 'MANIFEST.json')
    if os.path.isfile(manifest):
        with open(manifest, 'rb') as handle:
            return json.loads(handle.read().decode('utf-8'))['collection_info']['version']
    galaxy = os.path.join(root, 'galaxy.yml')
    if os.path.isfile(galaxy):
        with open(galaxy, 'rb') as handle:
            match = re.search(r'^version:\s*["\']?([^"\'\s#]+)', handle.read().decode('utf-8'), re.M)
        if match:
            return match.group(1)
    return None


# ------------------------------------------------------------------------------------------------
# score

def weighted_score(controls):
    """The control set's weighted score: severityWeight of passing controls over all verified controls.

    ``controls`` is a list of dicts with ``weight``, ``status`` and ``verify``. A control counts as verified
    when its definition has ``verify: true`` and the audit reached a verdict that can be held against it:
    ``pass`` earns its weight; ``fail`` and ``unknown`` earn nothing but count in the total (a control that
    could not be shown to pass is not credited); ``skipped`` (the control applies to no domain) is left out
    of both. ``ratio`` is None when nothing was verified.
    """
    earned = possible = 0
    for control in controls:
        if not control.get('verify', True) or control['status'] == 'skipped':
            continue
        weight = control.get('weight') or 0
        possible += weight
        if control['status'] == 'pass':
            earned += weight
    ratio = (float(earned) / possible) if possible else None
    return {'earned': earned, 'possible': possible, 'ratio': ratio,
            'percent': round(ratio * 100, 1) if ratio is not None else None}


def score_report(control, status, counts):
    """The score block of a report with one control, plus the share of domains that pass."""
    score = weighted_score([{'weight': control.get('severityWeight'), 'status': status,
                             'verify': control.get('verify', True)}])
    judged = counts.get('pass', 0) + counts.get('fail', 0) + counts.get('unknown', 0)
    score['domains_passing'] = counts.get('pass', 0)
    score['domains_judged'] = judged
    score['domains_percent'] = round(100.0 * counts.get('pass', 0) / judged, 1) if judged else None
    return score


# ------------------------------------------------------------------------------------------------
# the report

def build_report(domains, control, generated=None, version=None, options=None, previous=None):
    """The report as data (what the JSON file holds); see docs/docsite/rst/reports.rst for the schema."""
    domains = [_clipped_input(item) for item in domains]
    counts = count_statuses(domains)
    status = control_status(counts)
    report = {
        'schema': SCHEMA,
        'generated': generated,
        'tool': {'name': COLLECTION, 'version': version},
        'options': dict(options or {}),
        'control': control,
        'verdict': {
            'status': status,
            'counts': counts,
            'total': len(domains),
            'failing': [name_of(item) for item in domains if item['status'] == 'fail'],
            'unknown': [name_of(item) for item in domains if item['status'] == 'unknown'],
            'enforce_ready': [name_of(item) for item in domains if item.get('enforce_ready') is True],
        },
        'score': score_report(control, status, counts),
        'findings': finding_summary(domains),
        'domains': domains,
        'diff': None,
        'history': history_before(previous),
    }
    if previous is not None:
        report['diff'] = diff_reports(previous, report)
    return report


def _clipped_input(item):
    value = item.get('input')
    if isinstance(value, str) and len(value) > INPUT_LIMIT:
        item = dict(item, input=clip(value, INPUT_LIMIT))
    return item


def name_of(item):
    """The name a domain result is shown under: the normalized domain, else the input as given (clipped)."""
    if item.get('domain'):
        return item['domain']
    value = item.get('input')
    return clip(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str),
                INPUT_LIMIT)


def finding_summary(domains):
    """Per finding code: how many domains have it, its effect, title and what to do (from findings.CATALOG)."""
    seen = {}
    for item in domains:
        for code in sorted(set(str(entry.get('code')) for entry in item.get('findings') or [])):
            seen[code] = seen.get(code, 0) + 1
    out = []
    for code in sorted(seen, key=lambda code: (EFFECT_RANK.get(CATALOG.get(code, ('',))[0], 9), -seen[code], code)):
        effect, title, hint = CATALOG.get(code, ('unknown', '', ''))
        out.append({'code': code, 'domains': seen[code], 'effect': effect, 'title': title, 'remediation': hint})
    return out


# ------------------------------------------------------------------------------------------------
# history: the counts of earlier runs, carried from one report to the next

def run_entry(report):
    """One run of the trend: when, the control's status and the counts per status."""
    verdict = report.get('verdict') or {}
    counts = verdict.get('counts') or {}
    return {'generated': report.get('generated'), 'status': verdict.get('status'),
            'counts': dict((status, int(counts.get(status, 0) or 0)) for status in STATUSES),
            'total': int(verdict.get('total', 0) or 0)}


def history_before(previous, limit=HISTORY_LIMIT):
    """The runs before this one, oldest first: the previous report's own history, then the previous report."""
    if not is_report(previous):
        return []
    earlier = [entry for entry in previous.get('history') or [] if isinstance(entry, dict)]
    return [run_entry({'generated': entry.get('generated'),
                       'verdict': {'status': entry.get('status'), 'counts': entry.get('counts'),
                                   'total': entry.get('total')}})
            for entry in earlier][-(limit - 1):] + [run_entry(previous)]


def trend(report, limit=HISTORY_LIMIT):
    """The last ``limit`` runs including this one, oldest first."""
    return (list(report.get('history') or []) + [run_entry(report)])[-limit:]


# Evidence that differs on every run without anything having changed: how long a fetch or a domain's audit
# took, and the days a certificate has left (it follows from not_after, which is compared).
VOLATILE_KEYS = frozenset(('elapsed', 'duration', 'days_left'))


# Lists that hold the records of one DNS RRset, whose order means nothing (RFC 2181 section 5) and which
# resolvers rotate from one answer to the next.
RRSET_KEYS = frozenset(('txt', 'addresses', 'rua'))


def _without_volatile(value, key=None):
    if isinstance(value, dict):
        return dict((name, _without_volatile(item, name)) for name, item in value.items() if name not in VOLATILE_KEYS)
    if isinstance(value, list):
        items = [_without_volatile(item) for item in value]
        if key in RRSET_KEYS:
            return sorted(items, key=lambda item: json.dumps(item, sort_keys=True, default=str))
        if key == 'hosts':  # MX hosts of equal preference come in any order
            return sorted(items, key=lambda item: (item.get('preference') if isinstance(item, dict) else 0,
                                                   json.dumps(item, sort_keys=True, default=str)))
        return items
    return value


def comparable(report):
    """The report without what changes on every run: its time, its diff to an older report, the history of
    earlier runs, timings and the order of records in a DNS answer.

    Two reports that compare equal say the same about every domain; the report action then keeps the
    existing files instead of rewriting them with a new time (unless asked to record every run).
    """
    out = dict(report)
    out.pop('generated', None)
    out.pop('diff', None)
    out.pop('history', None)
    out['domains'] = _without_volatile(out.get('domains') or [])
    return out


# ------------------------------------------------------------------------------------------------
# diff

def _policy_fields(item):
    policy = item.get('policy') or {}
    return dict((key, policy.get(key)) for key in ('version', 'mode', 'max_age', 'mx'))


def diff_reports(previous, current):
    """What changed since an earlier report (both as data).

    ``newly_failing``: fail now, not fail before (or not audited before). ``fixed``: fail before, pass or
    skipped now. ``status_changed``: every other change of status. ``policy_changed_same_id``: the policy
    text changed while the TXT id stayed - senders that cached the old policy keep it (RFC 8461 section 3.1).
    ``policy_id_changed``: the TXT id changed. ``added`` / ``removed``: domains audited only now / only before.
    """
    before = dict((domain_key(item), item) for item in domains_of(previous, 'the previous report'))
    after = dict((domain_key(item), item) for item in domains_of(current, 'the current report'))
    diff = {'previous_generated': previous.get('generated'), 'newly_failing': [], 'fixed': [],
            'status_changed': [], 'policy_changed_same_id': [], 'policy_id_changed': [],
            'added': [], 'removed': []}
    for key in sorted(after):
        now = after[key]
        then = before.get(key)
        name = name_of(now)
        if then is None:
            diff['added'].append(name)
            if now['status'] == 'fail':
                diff['newly_failing'].append({'domain': name, 'before': None, 'after': 'fail'})
            continue
        change = {'domain': name, 'before': then['status'], 'after': now['status']}
        if now['status'] == 'fail' and then['status'] != 'fail':
            diff['newly_failing'].append(change)
        elif then['status'] == 'fail' and now['status'] in ('pass', 'skipped'):
            diff['fixed'].append(change)
        elif then['status'] != now['status']:
            diff['status_changed'].append(change)
        old_id = (then.get('record') or {}).get('id')
        new_id = (now.get('record') or {}).get('id')
        old_text = (then.get('policy') or {}).get('text')
        new_text = (now.get('policy') or {}).get('text')
        if old_id and new_id and old_id != new_id:
            diff['policy_id_changed'].append({'domain': name, 'before': old_id, 'after': new_id,
                                              'policy_changed': old_text != new_text})
        elif old_id and old_id == new_id and old_text is not None and new_text is not None \
                and old_text != new_text:
            fields = _policy_fields(then), _policy_fields(now)
            diff['policy_changed_same_id'].append({
                'domain': name, 'id': new_id,
                'fields': sorted(key for key in fields[0] if fields[0][key] != fields[1][key]),
                'before': old_text, 'after': new_text})
    diff['removed'] = [name_of(before[key]) for key in sorted(before) if key not in after]
    return diff


def diff_is_empty(diff):
    return not diff or not any(diff[key] for key in diff if key != 'previous_generated')
