# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML report: one self-contained page from a Jinja2 template (assets/report.html.j2) with its CSS and
script inlined from the files beside it.

The template renders with autoescape on, and every value passes through clean_text() (XML-safe, clipped)
before it is escaped; only the page's own CSS and script are marked safe. A Content-Security-Policy lets
only that script run (its sha256 hash), so markup from DNS or HTTP stays text even if escaping failed.
"""

import base64
import hashlib
import json
import math
import os
import re

from jinja2 import Environment, FileSystemLoader, Undefined
from markupsafe import Markup, escape

from ansible_collections.mailsec.mta_sts.plugins.module_utils.domain import to_unicode
from ansible_collections.mailsec.mta_sts.plugins.module_utils.findings import DOCS_URL, doc_url, remediation
from ansible_collections.mailsec.mta_sts.plugins.module_utils.verdict import STATUS_ORDER

from .model import COLLECTION, diff_is_empty, name_of, trend
from .text import (POLICY_TEXT_LIMIT, STATUS_COLORS, STATUS_LABELS, clean_text, number, score_explained,
                   sorted_for_people)

EXTENSION = '.html'
ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'assets')
_CODE = re.compile(r'^[a-z0-9]+(-[a-z0-9]+)*$')


def _asset(name):
    with open(os.path.join(ASSETS, name), 'rb') as handle:
        return handle.read().decode('utf-8')


SCRIPT = _asset('report.js')
CSS = _asset('report.css')


class PolicyText(str):
    """A policy's text: shown up to the 64 KiB a policy may have, not clipped like other values."""


def _finalize(value):
    if isinstance(value, Markup):
        return value
    if isinstance(value, Undefined):
        return ''
    if isinstance(value, PolicyText):
        return clean_text(value, POLICY_TEXT_LIMIT)
    return clean_text(value)


_ENVIRONMENT = Environment(loader=FileSystemLoader(ASSETS), autoescape=True, finalize=_finalize,
                           keep_trailing_newline=True)


def h(value):
    """A value as the page shows it: cleaned, clipped and escaped for element content and quoted attributes."""
    return str(escape(_finalize(value)))


def script_hash():
    """The CSP hash of the one inline script: nothing else on the page may run."""
    return 'sha256-' + base64.b64encode(hashlib.sha256(SCRIPT.encode('utf-8')).digest()).decode('ascii')


def _is_code(value):
    return isinstance(value, str) and bool(_CODE.match(value))


def donut(counts, size=150, stroke=26):
    """The status counts as arcs of a donut, one per status, with the total in the middle."""
    radius = (size - stroke) / 2.0
    circumference = 2 * math.pi * radius
    total = sum(counts.get(status, 0) for status in STATUS_ORDER)
    arcs = []
    offset = 0.0
    for status in STATUS_ORDER:
        value = counts.get(status, 0)
        if not value or not total:
            continue
        length = circumference * value / total
        arcs.append({'status': status, 'count': value, 'color': STATUS_COLORS[status],
                     'dash': '%.3f %.3f' % (length, circumference - length), 'offset': '%.3f' % -offset})
        offset += length
    return {'size': size, 'stroke': stroke, 'radius': '%.1f' % radius, 'centre': '%.1f' % (size / 2.0),
            'total': total, 'arcs': arcs,
            'label': 'Domains by status: ' + ', '.join('%d %s' % (counts.get(status, 0), status)
                                                       for status in STATUS_ORDER)}


def trend_chart(runs, height=120, bar_width=18, gap=10):
    """Stacked bars, one per run (oldest left), one segment per status, scaled to the largest run."""
    tallest = max([sum(run['counts'].values()) for run in runs] + [1])
    bars = []
    for index, run in enumerate(runs):
        bottom = float(height)
        for status in STATUS_ORDER:
            count = run['counts'].get(status, 0)
            if not count:
                continue
            size = (height - 10) * float(count) / tallest
            bottom -= size
            bars.append({'run': index, 'status': status, 'x': gap + index * (bar_width + gap), 'y': '%.2f' % bottom,
                         'height': '%.2f' % size,
                         'label': '%s: %d %s' % (run.get('generated') or 'not recorded', count, status)})
    return {'runs': runs, 'bars': bars, 'height': height, 'bar_width': bar_width,
            'width': max(160, gap + len(runs) * (bar_width + gap))}


def _rows(pairs):
    return [(key, value) for key, value in pairs if value not in (None, '', [])]


def evidence(item):
    """The evidence of one domain as sections: a title, key/value rows, the policy text, the MX hosts."""
    sections = []
    record = item.get('record')
    if record:
        sections.append({'title': 'TXT record %s' % clean_text(record.get('name')), 'text': None, 'hosts': [],
                         'rows': _rows([('outcome', record.get('outcome')), ('error', record.get('error')),
                                        ('records', record.get('txt') or []), ('id', record.get('id')),
                                        ('CNAME chain', ' -> '.join(record.get('cname_chain') or []))])})
    policy = item.get('policy')
    if policy:
        cert = policy.get('certificate') or {}
        certificate = ''
        if cert:
            certificate = '%s; issuer %s; expires %s (%s days); SAN %s' % (
                cert.get('subject'), cert.get('issuer'), cert.get('not_after'), cert.get('days_left'),
                ', '.join(cert.get('san') or []))
        addresses = (policy.get('dns') or {}).get('addresses')
        text = policy.get('text')
        sections.append({'title': 'Policy %s' % clean_text(policy.get('url')), 'hosts': [],
                         'text': PolicyText(text) if isinstance(text, str) else None,
                         'rows': _rows([('addresses', ', '.join(addresses or [])),
                                        ('fetched from', policy.get('address')),
                                        ('HTTP status', policy.get('http_status')),
                                        ('Content-Type', policy.get('content_type')), ('size', policy.get('size')),
                                        ('redirect to', policy.get('location')), ('error', policy.get('error')),
                                        ('certificate', certificate), ('mode', policy.get('mode')),
                                        ('max_age', policy.get('max_age')), ('mx patterns', policy.get('mx') or [])])})
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
            hosts.append({'host': host.get('host'), 'preference': host.get('preference'),
                          'pattern': host.get('pattern'), 'tls': tls_text})
        title = 'MX (%s%s%s)' % (clean_text(mx.get('outcome')), ', null MX' if mx.get('null_mx') else '',
                                 ', implicit' if mx.get('implicit') else '')
        sections.append({'title': title, 'rows': [], 'text': None, 'hosts': hosts})
    tlsrpt = item.get('tlsrpt')
    if tlsrpt:
        sections.append({'title': 'TLS-RPT %s' % clean_text(tlsrpt.get('name')), 'text': None, 'hosts': [],
                         'rows': _rows([('outcome', tlsrpt.get('outcome')), ('records', tlsrpt.get('txt') or []),
                                        ('rua', tlsrpt.get('rua') or [])])})
    return sections


def domain_row(item):
    """What the page shows of one domain."""
    pretty = to_unicode(item['domain']) if item.get('domain') else None
    given = item.get('input')
    findings = []
    for entry in item.get('findings') or []:
        code = entry.get('code')
        hint = remediation(code) if isinstance(code, str) else ''
        findings.append({'code': code, 'severity': entry.get('severity'), 'message': entry.get('message'),
                         'hint': hint if entry.get('severity') != 'info' else ''})
    return {
        'status': item['status'],
        'name': name_of(item),
        'pretty': pretty if pretty and pretty != item['domain'] else None,
        'given': given if isinstance(given, str) and item.get('domain') and given != item.get('domain') else None,
        'ready': item.get('enforce_ready') if item['status'] == 'pass' or item.get('enforce_ready') is True else None,
        'blockers': sorted(set(str(entry.get('code')) for entry in item.get('enforce_blockers') or [])),
        'findings': findings,
        'evidence': evidence(item),
    }


def _verdict_sentence(status, counts):
    if status == 'fail':
        return '%d domain(s) fail the control' % counts.get('fail', 0)
    if status == 'unknown':
        return '%d domain(s) could not be verified' % counts.get('unknown', 0)
    if status == 'pass':
        return 'every audited domain passes'
    return 'the control applies to none of the domains'


def render_html(report):
    """One self-contained page: summary, trend, changes, every domain with its findings (each code linked to
    its entry in the finding reference) and evidence, what to do per code, the control."""
    control = report['control']
    verdict = report['verdict']
    score = report['score']
    return _ENVIRONMENT.get_template('report.html.j2').render(
        report=report, control=control, verdict=verdict, score=score, status=verdict['status'],
        collection=COLLECTION, labels=STATUS_LABELS, status_order=STATUS_ORDER, number=number,
        verdict_sentence=_verdict_sentence(verdict['status'], verdict['counts']),
        score_big='%s%%' % number(score['percent']) if score['ratio'] is not None else 'n/a',
        score_explained=score_explained(report), donut=donut(verdict['counts']), trend=trend_chart(trend(report)),
        diff=report.get('diff'), diff_empty=diff_is_empty(report.get('diff')),
        rows=[domain_row(item) for item in sorted_for_people(report['domains'])],
        findings=report['findings'],
        references=[ref for ref in control.get('references') or [] if isinstance(ref, dict)],
        options_json=json.dumps(report.get('options') or {}, sort_keys=True, ensure_ascii=False, default=str),
        doc_url=doc_url, docs_url=DOCS_URL, is_code=_is_code,
        script_hash=script_hash(), css=Markup(CSS), script=Markup(SCRIPT))
