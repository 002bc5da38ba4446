# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Markdown report: a summary for tickets and merge requests."""

import re

from ansible_collections.mailsec.mta_sts.plugins.module_utils.findings import doc_url

from .model import COLLECTION, diff_is_empty, name_of, trend
from .text import clean_text, number, score_explained, score_text, sorted_for_people, status_line

EXTENSION = '.md'

_MD_SPECIAL = re.compile(r'([\\`*_\[\]|~])')
_CODE = re.compile(r'^[a-z0-9]+(-[a-z0-9]+)*$')


def md(value):
    """Text that stays text in a Markdown table cell: Markdown syntax, HTML and line breaks escaped."""
    text = clean_text(value)
    text = _MD_SPECIAL.sub(r'\\\1', text)
    text = text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
    return re.sub(r'\s*[\r\n]+\s*', ' ', text)


def md_code(code):
    """A finding code linked to its entry in the finding reference; a code that is not one shown as text."""
    if isinstance(code, str) and _CODE.match(code):
        return '[`%s`](%s)' % (code, doc_url(code))
    return md(code)


def render_markdown(report, limit=None):
    """A summary for tickets and merge requests: verdict, score, counts, failing domains, what to do."""
    control = report['control']
    verdict = report['verdict']
    lines = ['# MTA-STS audit: %s %s' % (md(control.get('id')), md(control.get('title'))), '']
    lines += ['| | |', '|---|---|',
              '| Verdict | **%s** |' % md(verdict['status'].upper()),
              '| Weighted score | %s |' % md(score_text(report['score'])),
              '| Domains passing | %s of %s judged (%s%%) |' % (
                  report['score']['domains_passing'], report['score']['domains_judged'],
                  number(report['score']['domains_percent'])),
              '| Counts | %s |' % md(status_line(report)),
              '| Ready for enforce | %d |' % len(verdict.get('enforce_ready') or []),
              '| Severity | %s (weight %s) |' % (md(control.get('severity')), md(control.get('severityWeight'))),
              '| Generated | %s |' % md(report.get('generated') or 'not recorded'),
              '| Tool | %s %s |' % (COLLECTION, md(report['tool'].get('version') or '')), '',
              md(score_explained(report)), '']
    runs = trend(report)
    if len(runs) > 1:
        lines += ['## Trend', '', '| Run | Status | Fail | Unknown | Pass | Skipped |', '|---|---|---|---|---|---|']
        for run in runs:
            counts = run['counts']
            lines.append('| %s | %s | %d | %d | %d | %d |' % (
                md(run['generated'] or 'not recorded'), md(run['status']), counts['fail'], counts['unknown'],
                counts['pass'], counts['skipped']))
        lines.append('')
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
        findings = '<br>'.join('%s %s' % (md_code(entry.get('code')), md(entry.get('message')))
                               for entry in item.get('findings') or [] if entry.get('severity') != 'info')
        lines.append('| %s | %s | %s |' % (md(name_of(item)), md(item['status']), findings or '-'))
    if limit and len(rows) > limit:
        lines.append('| ... | | %d more in the JSON report |' % (len(rows) - limit))
    if report['findings']:
        lines += ['', '## What to do', '', '| Finding | Domains | Effect | What to do |', '|---|---|---|---|']
        for entry in report['findings']:
            lines.append('| %s %s | %d | %s | %s |' % (
                md_code(entry['code']), md(entry['title']), entry['domains'], md(entry['effect']),
                md(entry['remediation'])))
    return '\n'.join(lines) + '\n'


def _md_change(key, entry):
    if key == 'policy_changed_same_id':
        return '%s (id %s; %s)' % (md(entry['domain']), md(entry['id']), md(', '.join(entry['fields']) or 'text'))
    return '%s (%s -> %s)' % (md(entry['domain']), md(entry['before'] or 'new'), md(entry['after']))
