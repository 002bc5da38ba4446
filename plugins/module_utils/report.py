# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Control reports from audit results: merge, diff, weighted score, and the JSON, JUnit, HTML, CSV and
Markdown renderers.

Pure Python, no Ansible imports: the action plugin ``mailsec.mta_sts.report`` and the unit tests call it.
Every value that came from DNS or HTTP is data to these renderers: HTML escapes it (text and attributes),
JUnit strips what XML 1.0 cannot carry, CSV defuses spreadsheet formulas, Markdown escapes its own syntax.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import csv
import hashlib
import html
import io
import json
import os
import re
import xml.etree.ElementTree as ET

from .audit import STATUSES, control_status, count_statuses
from .domain import to_unicode
from .findings import CATALOG

SCHEMA = 'mailsec.mta_sts.report/v1'
FORMATS = ('json', 'junit', 'html', 'csv', 'markdown')
EXTENSIONS = {'json': '.json', 'junit': '.junit.xml', 'html': '.html', 'csv': '.csv', 'markdown': '.md'}
COLLECTION = 'mailsec.mta_sts'

# The order people read statuses in: what needs work first.
STATUS_ORDER = ('fail', 'unknown', 'pass', 'skipped')
_RANK = dict((status, index) for index, status in enumerate(STATUS_ORDER))
STATUS_COLORS = {'pass': '#1a7f37', 'fail': '#cf222e', 'unknown': '#9a6700', 'skipped': '#6e7781'}
STATUS_LABELS = {'pass': 'Pass', 'fail': 'Fail', 'unknown': 'Unknown', 'skipped': 'Skipped'}
SEVERITY_ORDER = ('error', 'warning', 'info')
_EFFECT_RANK = {'fail': 0, 'unknown': 1, 'warn': 2, 'info': 3, 'skip': 4}


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
        raise ReportError('%s is a failed task result: %s' % (where, value.get('msg', 'no message')))
    domains = value.get('domains')
    if not isinstance(domains, list) or not all(isinstance(item, dict) and 'status' in item for item in domains):
        raise ReportError('%s has no list of domain results (register the result of mailsec.mta_sts.audit, '
                          'or give a JSON report of mailsec.mta_sts.report)' % where)
    for item in domains:
        if item['status'] not in STATUSES:
            raise ReportError('%s: domain %r has status %r, not one of %s' % (
                where, item.get('domain'), item['status'], ', '.join(STATUSES)))
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
    }
    if previous is not None:
        report['diff'] = diff_reports(previous, report)
    return report


def name_of(item):
    """The name a domain result is shown under: the normalized domain, else the input as given."""
    if item.get('domain'):
        return item['domain']
    value = item.get('input')
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def finding_summary(domains):
    """Per finding code: how many domains have it, its effect, title and what to do (from findings.CATALOG)."""
    seen = {}
    for item in domains:
        for code in sorted(set(entry.get('code') for entry in item.get('findings') or [])):
            seen[code] = seen.get(code, 0) + 1
    out = []
    for code in sorted(seen, key=lambda code: (_EFFECT_RANK.get(CATALOG.get(code, ('',))[0], 9), -seen[code], code)):
        effect, title, hint = CATALOG.get(code, ('unknown', '', ''))
        out.append({'code': code, 'domains': seen[code], 'effect': effect, 'title': title, 'remediation': hint})
    return out


# Evidence that differs on every run without anything having changed: how long a fetch took, and the days a
# certificate has left (it follows from not_after, which is compared).
VOLATILE_KEYS = frozenset(('elapsed', 'days_left'))


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
    """The report without what changes on every run: its time, its diff to an older report, timings and the
    order of records in a DNS answer.

    Two reports that compare equal say the same about every domain; the report action then keeps the
    existing files instead of rewriting them with a new time.
    """
    out = dict(report)
    out.pop('generated', None)
    out.pop('diff', None)
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


# ------------------------------------------------------------------------------------------------
# helpers shared by the renderers

# Characters XML 1.0 cannot carry at all (and that no report reader wants to see raw).
_NOT_XML = re.compile(u'[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]')


def clean_text(value):
    """Text of any value, with characters XML 1.0 cannot hold shown as \\xNN."""
    if value is None:
        return ''
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return _NOT_XML.sub(lambda match: '\\x%02x' % ord(match.group(0)) if ord(match.group(0)) < 256
                        else '\\u%04x' % ord(match.group(0)), value)


def sorted_for_people(domains):
    """Failing first, then unknown, pass, skipped; by name within a status."""
    return sorted(domains, key=lambda item: (_RANK[item['status']], name_of(item)))


def main_finding(item):
    """The finding that explains a verdict best: the first error, else warning, else info."""
    findings = item.get('findings') or []
    for severity in SEVERITY_ORDER:
        for entry in findings:
            if entry.get('severity') == severity:
                return entry
    return None


def remediation(code):
    return CATALOG.get(code, ('', '', ''))[2]


def title(code):
    return CATALOG.get(code, ('', '', ''))[1]


def _mx_hosts(item):
    return [host.get('host') for host in (item.get('mx') or {}).get('hosts') or []]


def _status_line(report):
    counts = report['verdict']['counts']
    return ', '.join('%d %s' % (counts.get(status, 0), status) for status in STATUS_ORDER)


def _score_text(score):
    if score['ratio'] is None:
        return 'n/a (nothing verified)'
    return '%d / %d (%s%%)' % (score['earned'], score['possible'], _number(score['percent']))


def _number(value):
    return ('%.1f' % value).rstrip('0').rstrip('.') if value is not None else 'n/a'


# ------------------------------------------------------------------------------------------------
# JSON

def render_json(report):
    """The full report: stable key order, two-space indent, UTF-8, one trailing newline."""
    return json.dumps(report, sort_keys=True, indent=2, ensure_ascii=False, default=str) + '\n'


# ------------------------------------------------------------------------------------------------
# JUnit XML

def render_junit(report):
    """One test suite for the control, one test case per domain.

    fail -> <failure>, unknown -> <error>, skipped -> <skipped>; counts in the testsuite attributes equal
    the report's verdict counts.
    """
    control = report['control']
    counts = report['verdict']['counts']
    total = report['verdict']['total']
    attrs = {'tests': str(total), 'failures': str(counts.get('fail', 0)), 'errors': str(counts.get('unknown', 0)),
             'skipped': str(counts.get('skipped', 0)), 'time': '0'}
    suites = ET.Element('testsuites', dict(attrs, name=COLLECTION))
    suite_attrs = dict(attrs, name=clean_text('%s: %s' % (control.get('id'), control.get('title'))))
    if report.get('generated'):
        suite_attrs['timestamp'] = report['generated'].rstrip('Z')
    suite = ET.SubElement(suites, 'testsuite', suite_attrs)
    properties = ET.SubElement(suite, 'properties')
    for name, value in (('control', control.get('id')), ('severity', control.get('severity')),
                        ('severityWeight', control.get('severityWeight')),
                        ('status', report['verdict']['status']), ('score', _score_text(report['score'])),
                        ('tool', '%s %s' % (COLLECTION, report['tool'].get('version') or ''))):
        ET.SubElement(properties, 'property', {'name': name, 'value': clean_text(value)})
    classname = clean_text(control.get('id') or 'mta-sts')
    for item in report['domains']:
        case = ET.SubElement(suite, 'testcase', {'classname': classname, 'name': clean_text(name_of(item)),
                                                 'time': '0'})
        lines = ['%s [%s] %s' % (entry.get('code'), entry.get('severity'), clean_text(entry.get('message')))
                 for entry in item.get('findings') or []]
        hints = ['%s: %s' % (code, remediation(code)) for code in _codes(item, ('error', 'warning'))]
        main = main_finding(item)
        message = clean_text('%s: %s' % (main.get('code'), main.get('message'))) if main else ''
        kind = {'fail': 'failure', 'unknown': 'error', 'skipped': 'skipped'}.get(item['status'])
        if kind:
            element = ET.SubElement(case, kind, {'message': message, 'type': clean_text(main.get('code') if main else '')})
            if kind != 'skipped':
                element.text = '\n'.join(lines + ([''] + ['What to do:'] + hints if hints else []))
        if item.get('input') != item.get('domain'):
            lines = ['input: %s' % clean_text(item.get('input'))] + lines
        if lines:
            ET.SubElement(case, 'system-out').text = '\n'.join(lines)
    body = ET.tostring(suites, encoding='unicode')
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + _indent_xml(body) + '\n'


def _codes(item, severities):
    out = []
    for entry in item.get('findings') or []:
        if entry.get('severity') in severities and entry.get('code') not in out:
            out.append(entry.get('code'))
    return out


def _indent_xml(text):
    element = ET.fromstring(text)
    ET.indent(element, space='  ')
    return ET.tostring(element, encoding='unicode')


# ------------------------------------------------------------------------------------------------
# CSV

CSV_COLUMNS = ('domain', 'input', 'status', 'main_finding', 'findings', 'policy_id', 'policy_mode',
               'policy_max_age', 'policy_mx', 'mx_hosts', 'tlsrpt_rua', 'enforce_ready', 'enforce_blockers',
               'remediation')
_FORMULA_START = ('=', '+', '-', '@', '\t', '\r')


def csv_cell(value):
    """A cell a spreadsheet shows as text: a leading = + - @ TAB or CR gets an apostrophe (OWASP CSV injection)."""
    if value is None:
        return ''
    if isinstance(value, (list, tuple)):
        value = ' '.join(clean_text(part) for part in value)
    elif not isinstance(value, str):
        value = clean_text(value)
    if value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_rows(report):
    for item in report['domains']:
        main = main_finding(item)
        record = item.get('record') or {}
        policy = item.get('policy') or {}
        tlsrpt = item.get('tlsrpt') or {}
        yield {
            'domain': item.get('domain'),
            'input': item.get('input') if isinstance(item.get('input'), str) else clean_text(item.get('input')),
            'status': item['status'],
            'main_finding': '%s: %s' % (main.get('code'), main.get('message')) if main else '',
            'findings': [entry.get('code') for entry in item.get('findings') or []],
            'policy_id': record.get('id'),
            'policy_mode': policy.get('mode'),
            'policy_max_age': policy.get('max_age'),
            'policy_mx': policy.get('mx') or [],
            'mx_hosts': _mx_hosts(item),
            'tlsrpt_rua': tlsrpt.get('rua') or [],
            'enforce_ready': {True: 'yes', False: 'no'}.get(item.get('enforce_ready'), ''),
            'enforce_blockers': [entry.get('code') for entry in item.get('enforce_blockers') or []],
            'remediation': ' | '.join('%s: %s' % (code, remediation(code)) for code in _codes(item, ('error', 'warning'))),
        }


def render_csv(report):
    """One row per domain (RFC 4180, CRLF line ends), every cell safe to open in a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\r\n', quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_COLUMNS)
    for row in csv_rows(report):
        writer.writerow([csv_cell(row[column]) for column in CSV_COLUMNS])
    return out.getvalue()


# ------------------------------------------------------------------------------------------------
# Markdown

_MD_SPECIAL = re.compile(r'([\\`*_\[\]|~])')


def md(value):
    """Text that stays text in a Markdown table cell: Markdown syntax, HTML and line breaks escaped."""
    text = clean_text(value)
    text = _MD_SPECIAL.sub(r'\\\1', text)
    text = text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
    return re.sub(r'\s*[\r\n]+\s*', ' ', text)


def render_markdown(report, limit=None):
    """A summary for tickets and merge requests: verdict, score, counts, failing domains, what to do."""
    control = report['control']
    verdict = report['verdict']
    lines = ['# MTA-STS audit: %s %s' % (md(control.get('id')), md(control.get('title'))), '']
    lines += ['| | |', '|---|---|',
              '| Verdict | **%s** |' % md(verdict['status'].upper()),
              '| Weighted score | %s |' % md(_score_text(report['score'])),
              '| Domains passing | %s of %s judged (%s%%) |' % (
                  report['score']['domains_passing'], report['score']['domains_judged'],
                  _number(report['score']['domains_percent'])),
              '| Counts | %s |' % md(_status_line(report)),
              '| Ready for enforce | %d |' % len(verdict.get('enforce_ready') or []),
              '| Severity | %s (weight %s) |' % (md(control.get('severity')), md(control.get('severityWeight'))),
              '| Generated | %s |' % md(report.get('generated') or 'not recorded'),
              '| Tool | %s %s |' % (COLLECTION, md(report['tool'].get('version') or '')), '']
    diff = report.get('diff')
    if diff is not None:
        lines += ['## Changes since %s' % md(diff.get('previous_generated') or 'the previous report'), '']
        if diff_is_empty(diff):
            lines += ['No change.', '']
        for key, label in (('newly_failing', 'Newly failing'), ('fixed', 'Fixed'),
                           ('status_changed', 'Status changed'),
                           ('policy_changed_same_id', 'Policy changed without a new id'),
                           ('policy_id_changed', 'Policy id changed')):
            for entry in diff[key]:
                lines.append('- %s: %s' % (label, _md_change(key, entry)))
        for key, label in (('added', 'Added'), ('removed', 'Removed')):
            if diff[key]:
                lines.append('- %s: %s' % (label, ', '.join(md(name) for name in diff[key])))
        lines.append('')
    lines += ['## Domains', '', '| Domain | Status | Findings |', '|---|---|---|']
    rows = sorted_for_people(report['domains'])
    for item in rows[:limit] if limit else rows:
        findings = '<br>'.join('`%s` %s' % (entry.get('code'), md(entry.get('message')))
                               for entry in item.get('findings') or [] if entry.get('severity') != 'info')
        lines.append('| %s | %s | %s |' % (md(name_of(item)), item['status'], findings or '-'))
    if limit and len(rows) > limit:
        lines.append('| ... | | %d more in the JSON report |' % (len(rows) - limit))
    if report['findings']:
        lines += ['', '## What to do', '', '| Finding | Domains | Effect | What to do |', '|---|---|---|---|']
        for entry in report['findings']:
            lines.append('| `%s` %s | %d | %s | %s |' % (
                entry['code'], md(entry['title']), entry['domains'], entry['effect'], md(entry['remediation'])))
    return '\n'.join(lines) + '\n'


def _md_change(key, entry):
    if key == 'policy_changed_same_id':
        return '%s (id %s; %s)' % (md(entry['domain']), md(entry['id']), md(', '.join(entry['fields']) or 'text'))
    return '%s (%s -> %s)' % (md(entry['domain']), md(entry['before'] or 'new'), md(entry['after']))


# ------------------------------------------------------------------------------------------------
# HTML

def h(value):
    """Escaped text for HTML element content and quoted attribute values."""
    return html.escape(clean_text(value), quote=True)


_SCRIPT = u'''(function () {
  var box = document.getElementById('filter-text');
  var boxes = document.querySelectorAll('input[data-status-filter]');
  var rows = document.querySelectorAll('tbody#domain-rows > tr');
  var shown = document.getElementById('shown-count');
  function apply() {
    var words = box.value.toLowerCase().split(/\\s+/).filter(function (w) { return w.length > 0; });
    var allowed = {};
    boxes.forEach(function (b) { allowed[b.getAttribute('data-status-filter')] = b.checked; });
    var count = 0;
    rows.forEach(function (row) {
      var text = row.textContent.toLowerCase();
      var ok = allowed[row.getAttribute('data-status')] &&
        words.every(function (w) { return text.indexOf(w) !== -1; });
      row.hidden = !ok;
      if (ok) { count += 1; }
    });
    shown.textContent = String(count);
  }
  box.addEventListener('input', apply);
  boxes.forEach(function (b) { b.addEventListener('change', apply); });
  document.getElementById('expand-all').addEventListener('click', function () {
    document.querySelectorAll('#domain-rows details').forEach(function (d) { d.open = true; });
  });
  document.getElementById('collapse-all').addEventListener('click', function () {
    document.querySelectorAll('#domain-rows details').forEach(function (d) { d.open = false; });
  });
  window.addEventListener('beforeprint', function () {
    document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  });
  apply();
}());
'''

_CSS = u'''
:root { --pass: #1a7f37; --fail: #cf222e; --unknown: #9a6700; --skipped: #6e7781; --line: #d0d7de;
        --muted: #57606a; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328; margin: 0;
       padding: 24px 32px; max-width: 1400px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 10px; }
.meta, .muted { color: var(--muted); }
.summary { display: grid; grid-template-columns: 260px 220px 1fr; gap: 16px; margin-top: 18px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; background: #fff; }
.card h3 { margin: 0 0 6px; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.verdict { font-size: 30px; font-weight: 700; letter-spacing: .02em; }
.big { font-size: 28px; font-weight: 700; }
.chart { display: flex; gap: 18px; align-items: center; }
.legend { list-style: none; margin: 0; padding: 0; }
.legend li { margin: 3px 0; } .legend .swatch { display: inline-block; width: 11px; height: 11px;
  border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-weight: 600; font-size: 12px; }
.s-pass { background: var(--pass); } .s-fail { background: var(--fail); }
.s-unknown { background: var(--unknown); } .s-skipped { background: var(--skipped); }
.t-pass { color: var(--pass); } .t-fail { color: var(--fail); } .t-unknown { color: var(--unknown); }
.t-skipped { color: var(--skipped); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 7px 9px; border-bottom: 1px solid var(--line); }
th { background: var(--bg); font-weight: 600; }
td.domain { font-weight: 600; word-break: break-all; min-width: 200px; }
code, pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: var(--bg); padding: 8px; border-radius: 6px; white-space: pre-wrap; word-break: break-all; margin: 4px 0; }
ul.findings { margin: 0; padding-left: 16px; } ul.findings li { margin: 2px 0; }
.sev-error { color: var(--fail); font-weight: 600; } .sev-warning { color: var(--unknown); font-weight: 600; }
.sev-info { color: var(--muted); }
.hint { color: var(--muted); font-size: 12px; }
.ready { color: var(--pass); font-size: 12px; font-weight: 400; }
.not-ready { color: var(--unknown); font-size: 12px; font-weight: 400; }
details summary { cursor: pointer; color: #0969da; }
.ev { border-left: 3px solid var(--line); padding: 2px 0 2px 10px; margin: 4px 0; }
.ev h4 { font-size: 12px; margin: 8px 0 2px; } .ev ul { margin: 2px 0; padding-left: 18px; }
dl.evidence { display: grid; grid-template-columns: max-content 1fr; gap: 1px 12px; margin: 2px 0; font-size: 12px; }
dl.evidence dt { color: var(--muted); } dl.evidence dd { margin: 0; word-break: break-all; }
.toolbar { display: flex; gap: 14px; align-items: center; flex-wrap: wrap; margin: 10px 0; padding: 10px;
  background: var(--bg); border-radius: 8px; }
.toolbar input[type=search] { width: 320px; padding: 6px 8px; border: 1px solid var(--line); border-radius: 6px; }
.toolbar button { padding: 4px 10px; border: 1px solid var(--line); border-radius: 6px; background: #fff; cursor: pointer; }
.diff li { margin: 2px 0; }
footer { margin-top: 30px; color: var(--muted); font-size: 12px; }
@media print {
  body { padding: 0; max-width: none; font-size: 11px; }
  .toolbar, .noprint { display: none !important; }
  tr { break-inside: avoid; }
  tbody#domain-rows > tr[hidden] { display: table-row !important; }
  .card { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  .badge, .swatch, svg { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
'''


def svg_donut(counts, size=150, stroke=26):
    """The status counts as an inline SVG donut, one arc per status, with the total in the middle."""
    radius = (size - stroke) / 2.0
    centre = size / 2.0
    circumference = 2 * 3.141592653589793 * radius
    total = sum(counts.get(status, 0) for status in STATUS_ORDER)
    parts = ['<svg id="status-chart" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
             'viewBox="0 0 %d %d" role="img" aria-label="%s">' % (
                 size, size, size, size, h('Domains by status: ' + ', '.join(
                     '%d %s' % (counts.get(status, 0), status) for status in STATUS_ORDER))),
             '<circle cx="%.1f" cy="%.1f" r="%.1f" fill="none" stroke="#eaeef2" stroke-width="%d"/>' % (
                 centre, centre, radius, stroke)]
    offset = 0.0
    for status in STATUS_ORDER:
        value = counts.get(status, 0)
        if not value or not total:
            continue
        length = circumference * value / total
        parts.append('<circle class="arc" data-status="%s" cx="%.1f" cy="%.1f" r="%.1f" fill="none" stroke="%s" '
                     'stroke-width="%d" stroke-dasharray="%.3f %.3f" stroke-dashoffset="%.3f" '
                     'transform="rotate(-90 %.1f %.1f)"><title>%d %s</title></circle>' % (
                         status, centre, centre, radius, STATUS_COLORS[status], stroke, length,
                         circumference - length, -offset, centre, centre, value, status))
        offset += length
    parts.append('<text x="50%%" y="48%%" text-anchor="middle" font-size="26" font-weight="700" '
                 'fill="#1f2328">%d</text>' % total)
    parts.append('<text x="50%" y="63%" text-anchor="middle" font-size="11" fill="#57606a">domains</text>')
    parts.append('</svg>')
    return ''.join(parts)


def _dl(pairs):
    rows = ['<dt>%s</dt><dd>%s</dd>' % (h(key), value) for key, value in pairs if value not in (None, '')]
    return '<dl class="evidence">%s</dl>' % ''.join(rows) if rows else ''


def _list_text(values):
    return '<br>'.join('<code>%s</code>' % h(value) for value in values or [])


def _evidence_html(item):
    parts = []
    record = item.get('record')
    if record:
        parts.append('<h4>TXT record %s</h4>' % h(record.get('name')))
        parts.append(_dl([('outcome', h(record.get('outcome'))), ('error', h(record.get('error'))),
                          ('records', _list_text(record.get('txt'))), ('id', h(record.get('id'))),
                          ('CNAME chain', h(' -> '.join(record.get('cname_chain') or [])))]))
    policy = item.get('policy')
    if policy:
        cert = policy.get('certificate') or {}
        addresses = (policy.get('dns') or {}).get('addresses')
        parts.append('<h4>Policy %s</h4>' % h(policy.get('url')))
        parts.append(_dl([('addresses', h(', '.join(addresses or []))), ('fetched from', h(policy.get('address'))),
                          ('HTTP status', h(policy.get('http_status'))), ('Content-Type', h(policy.get('content_type'))),
                          ('size', h(policy.get('size'))), ('redirect to', h(policy.get('location'))),
                          ('error', h(policy.get('error'))),
                          ('certificate', h('%s; issuer %s; expires %s (%s days); SAN %s' % (
                              cert.get('subject'), cert.get('issuer'), cert.get('not_after'), cert.get('days_left'),
                              ', '.join(cert.get('san') or []))) if cert else ''),
                          ('mode', h(policy.get('mode'))), ('max_age', h(policy.get('max_age'))),
                          ('mx patterns', _list_text(policy.get('mx')))]))
        if policy.get('text') is not None:
            parts.append('<pre class="policy-text">%s</pre>' % h(policy['text']))
    mx = item.get('mx')
    if mx:
        hosts = []
        for host in mx.get('hosts') or []:
            tls = host.get('tls') or {}
            tls_text = ''
            if tls:
                tls_text = '; STARTTLS %s %s' % ('yes' if tls.get('starttls') else 'no', tls.get('tls_version') or '')
                if tls.get('problem'):
                    tls_text += '; %s: %s' % (tls.get('problem'), tls.get('error'))
            hosts.append('<li><code>%s</code> pref %s, pattern %s%s</li>' % (
                h(host.get('host')), h(host.get('preference')),
                '<code>%s</code>' % h(host['pattern']) if host.get('pattern') else '<em>none</em>', h(tls_text)))
        parts.append('<h4>MX (%s%s%s)</h4>' % (h(mx.get('outcome')), ', null MX' if mx.get('null_mx') else '',
                                               ', implicit' if mx.get('implicit') else ''))
        if hosts:
            parts.append('<ul>%s</ul>' % ''.join(hosts))
    tlsrpt = item.get('tlsrpt')
    if tlsrpt:
        parts.append('<h4>TLS-RPT %s</h4>' % h(tlsrpt.get('name')))
        parts.append(_dl([('outcome', h(tlsrpt.get('outcome'))), ('records', _list_text(tlsrpt.get('txt'))),
                          ('rua', _list_text(tlsrpt.get('rua')))]))
    return ''.join(parts)


def _details(evidence):
    if not evidence:
        return ''
    return '<details><summary>Evidence</summary><div class="ev">%s</div></details>' % evidence


def _findings_html(item):
    findings = item.get('findings') or []
    if not findings:
        return '<span class="muted">none</span>'
    rows = []
    for entry in findings:
        code = entry.get('code')
        hint = remediation(code)
        rows.append('<li><code class="sev-%s">%s</code> <span class="sev-%s">%s</span> %s%s</li>' % (
            h(entry.get('severity')), h(code), h(entry.get('severity')), h(entry.get('severity')),
            h(entry.get('message')),
            '<div class="hint">What to do: %s</div>' % h(hint) if hint and entry.get('severity') != 'info' else ''))
    return '<ul class="findings">%s</ul>' % ''.join(rows)


def _domain_cell(item):
    name = name_of(item)
    out = h(name)
    pretty = to_unicode(item['domain']) if item.get('domain') else None
    if pretty and pretty != item['domain']:
        out += '<div class="muted">%s</div>' % h(pretty)
    if item.get('input') != item.get('domain') and isinstance(item.get('input'), str) and item.get('domain'):
        out += '<div class="muted">given as <code>%s</code></div>' % h(item.get('input'))
    if item.get('enforce_ready') is True:
        out += '<div class="ready">ready for enforce</div>'
    elif item.get('enforce_ready') is False and item['status'] == 'pass':
        blockers = sorted(set(entry.get('code') for entry in item.get('enforce_blockers') or []))
        out += '<div class="not-ready">not ready for enforce%s</div>' % (
            ': ' + ', '.join('<code>%s</code>' % h(code) for code in blockers) if blockers else '')
    return out


def _diff_html(diff):
    if diff is None:
        return ''
    parts = ['<h2>Changes since %s</h2>' % h(diff.get('previous_generated') or 'the previous report')]
    if diff_is_empty(diff):
        return parts[0] + '<p>No change.</p>'
    items = []
    for key, label in (('newly_failing', 'Newly failing'), ('fixed', 'Fixed'), ('status_changed', 'Status changed')):
        for entry in diff[key]:
            items.append('<li><strong>%s</strong> %s: %s &rarr; %s</li>' % (
                label, h(entry['domain']), h(entry['before'] or 'new'), h(entry['after'])))
    for entry in diff['policy_changed_same_id']:
        items.append('<li><strong>Policy changed without a new id</strong> %s (id <code>%s</code>; %s) '
                     '&mdash; senders keep the cached policy until the id changes</li>' % (
                         h(entry['domain']), h(entry['id']), h(', '.join(entry['fields']) or 'text only')))
    for entry in diff['policy_id_changed']:
        items.append('<li><strong>Policy id changed</strong> %s: <code>%s</code> &rarr; <code>%s</code>%s</li>' % (
            h(entry['domain']), h(entry['before']), h(entry['after']),
            '' if entry['policy_changed'] else ' (policy text unchanged)'))
    for key, label in (('added', 'Added'), ('removed', 'Removed')):
        if diff[key]:
            items.append('<li><strong>%s</strong> %s</li>' % (label, h(', '.join(diff[key]))))
    return parts[0] + '<ul class="diff">%s</ul>' % ''.join(items)


def script_hash():
    """The CSP hash of the one inline script: nothing else on the page may run."""
    return 'sha256-' + base64.b64encode(hashlib.sha256(_SCRIPT.encode('utf-8')).digest()).decode('ascii')


def render_html(report):
    """One self-contained page: summary on top, findings with what to do, every domain with its evidence.

    No external assets; a Content-Security-Policy lets only the page's own inline script run, and every
    value is escaped with html.escape (text and attributes) - defence in depth for values from DNS/HTTP.
    """
    control = report['control']
    verdict = report['verdict']
    counts = verdict['counts']
    score = report['score']
    status = verdict['status']
    out = ['<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
           'script-src \'%s\'; img-src data:">\n' % script_hash(),
           '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
           '<title>MTA-STS audit %s: %s</title>\n' % (h(control.get('id')), h(status.upper())),
           '<style>%s</style>\n</head>\n<body>\n' % _CSS,
           '<header><h1>MTA-STS audit &mdash; %s %s</h1>\n' % (h(control.get('id')), h(control.get('title'))),
           '<div class="meta">Generated %s by %s %s &middot; severity %s (weight %s) &middot; %s</div></header>\n' % (
               h(report.get('generated') or '(time not recorded)'), COLLECTION, h(report['tool'].get('version') or ''),
               h(control.get('severity')), h(control.get('severityWeight')),
               h(', '.join(control.get('frameworks') or []))),
           '<section class="summary" id="summary">\n',
           '<div class="card"><h3>Control verdict</h3><div class="verdict t-%s" id="verdict">%s</div>'
           '<div class="muted">%s</div></div>\n' % (
               h(status), h(STATUS_LABELS.get(status, status).upper()), h(_verdict_sentence(status, counts))),
           '<div class="card"><h3>Weighted score</h3><div class="big" id="score">%s</div>'
           '<div class="muted">%s</div></div>\n' % (
               h('%s%%' % _number(score['percent']) if score['ratio'] is not None else 'n/a'),
               h('%s of %s weight; %s of %s judged domains pass (%s%%); %d ready for enforce' % (
                   score['earned'], score['possible'], score['domains_passing'], score['domains_judged'],
                   _number(score['domains_percent']), len(verdict.get('enforce_ready') or [])))),
           '<div class="card"><h3>Domains by status</h3><div class="chart">%s<ul class="legend">%s</ul></div></div>\n' % (
               svg_donut(counts), ''.join(
                   '<li><span class="swatch s-%s"></span>%s <strong>%d</strong></li>' % (
                       status_name, STATUS_LABELS[status_name], counts.get(status_name, 0))
                   for status_name in STATUS_ORDER)),
           '</section>\n']
    out.append(_diff_html(report.get('diff')))
    out.append('<h2>Domains</h2>\n<div class="toolbar" role="search"><input type="search" id="filter-text" '
               'placeholder="Filter: domain, finding code, text..." aria-label="Filter domains">')
    for status_name in STATUS_ORDER:
        out.append('<label><input type="checkbox" data-status-filter="%s" checked> %s (%d)</label>' % (
            status_name, STATUS_LABELS[status_name], counts.get(status_name, 0)))
    out.append('<button type="button" id="expand-all">Expand evidence</button>'
               '<button type="button" id="collapse-all">Collapse</button>'
               '<span class="muted"><span id="shown-count">%d</span> of %d shown</span></div>\n' % (
                   verdict['total'], verdict['total']))
    out.append('<table id="domain-table"><thead><tr><th>Domain</th><th>Status</th><th>Findings and evidence</th>'
               '</tr></thead><tbody id="domain-rows">\n')
    for item in sorted_for_people(report['domains']):
        out.append('<tr data-status="%s"><td class="domain">%s</td><td><span class="badge s-%s">%s</span></td>'
                   '<td>%s%s</td></tr>\n' % (
                       h(item['status']), _domain_cell(item), h(item['status']), h(item['status']),
                       _findings_html(item), _details(_evidence_html(item))))
    out.append('</tbody></table>\n')
    if report['findings']:
        out.append('<h2>Findings and what to do</h2>\n<table id="finding-table"><thead><tr><th>Finding</th>'
                   '<th>Domains</th><th>Effect</th><th>What to do</th></tr></thead><tbody>')
        for entry in report['findings']:
            out.append('<tr><td><code>%s</code><div class="muted">%s</div></td><td>%d</td><td>%s</td><td>%s</td></tr>' % (
                h(entry['code']), h(entry['title']), entry['domains'], h(entry['effect']), h(entry['remediation'])))
        out.append('</tbody></table>\n')
    out.append(_control_html(control))
    out.append('<footer>%s %s &middot; schema %s &middot; options %s</footer>\n' % (
        COLLECTION, h(report['tool'].get('version') or ''), h(report.get('schema')),
        h(json.dumps(report.get('options') or {}, sort_keys=True, ensure_ascii=False, default=str))))
    out.append('<script>%s</script>\n</body>\n</html>\n' % _SCRIPT)
    return ''.join(out)


def _verdict_sentence(status, counts):
    if status == 'fail':
        return '%d domain(s) fail the control' % counts.get('fail', 0)
    if status == 'unknown':
        return '%d domain(s) could not be verified' % counts.get('unknown', 0)
    if status == 'pass':
        return 'every audited domain passes'
    return 'the control applies to none of the domains'


def _control_html(control):
    references = ''.join('<li><a href="%s">%s</a></li>' % (h(ref.get('url')), h(ref.get('name')))
                         for ref in control.get('references') or [] if isinstance(ref, dict))
    remediation_block = control.get('remediation') or {}
    return ('<h2>The control</h2>\n<div class="card" id="control">%s%s%s%s</div>\n' % (
        '<p>%s</p>' % h(control.get('description')),
        '<p><strong>Remediation:</strong> %s</p>' % h(remediation_block.get('description'))
        if remediation_block.get('description') else '',
        '<p><strong>Considerations:</strong> %s</p>' % h(control.get('considerations'))
        if control.get('considerations') else '',
        '<ul>%s</ul>' % references if references else ''))


RENDERERS = {'json': render_json, 'junit': render_junit, 'html': render_html, 'csv': render_csv,
             'markdown': render_markdown}


def render(report, fmt):
    return RENDERERS[fmt](report)
