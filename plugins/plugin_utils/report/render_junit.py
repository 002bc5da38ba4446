# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The JUnit XML report: one test suite for the control, one test case per domain, for CI systems."""

import xml.etree.ElementTree as ET

from ansible_collections.mailsec.mta_sts.plugins.module_utils.findings import main_finding, remediation

from .model import COLLECTION, name_of
from .text import clean_text, codes_of, score_text

EXTENSION = '.junit.xml'


def audit_seconds(item):
    """How long the domain's audit took, when the audit result says (``duration`` or ``elapsed``, seconds)."""
    for key in ('duration', 'elapsed'):
        value = item.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return float(value)
    return 0.0


def _seconds(value):
    return '%.3f' % value


def render_junit(report):
    """fail -> <failure>, unknown -> <error>, skipped -> <skipped>; counts in the testsuite attributes equal
    the report's verdict counts; each test case's time is the domain's audit time.

    Every attribute and text is passed through clean_text(): a control character in a finding code or a
    message from DNS becomes \\xNN, never invalid XML.
    """
    control = report['control']
    counts = report['verdict']['counts']
    total = report['verdict']['total']
    seconds = [audit_seconds(item) for item in report['domains']]
    attrs = {'tests': str(total), 'failures': str(counts.get('fail', 0)), 'errors': str(counts.get('unknown', 0)),
             'skipped': str(counts.get('skipped', 0)), 'time': _seconds(sum(seconds))}
    suites = ET.Element('testsuites', dict(attrs, name=COLLECTION))
    suite_attrs = dict(attrs, name=clean_text('%s: %s' % (control.get('id'), control.get('title'))))
    if report.get('generated'):
        suite_attrs['timestamp'] = clean_text(report['generated']).rstrip('Z')
    suite = ET.SubElement(suites, 'testsuite', suite_attrs)
    properties = ET.SubElement(suite, 'properties')
    for name, value in (('control', control.get('id')), ('severity', control.get('severity')),
                        ('severityWeight', control.get('severityWeight')),
                        ('status', report['verdict']['status']), ('score', score_text(report['score'])),
                        ('tool', '%s %s' % (COLLECTION, report['tool'].get('version') or ''))):
        ET.SubElement(properties, 'property', {'name': name, 'value': clean_text(value)})
    classname = clean_text(control.get('id') or 'mta-sts')
    for item, took in zip(report['domains'], seconds):
        case = ET.SubElement(suite, 'testcase', {'classname': classname, 'name': clean_text(name_of(item)),
                                                 'time': _seconds(took)})
        lines = [clean_text('%s [%s] %s' % (entry.get('code'), entry.get('severity'), clean_text(entry.get('message'))))
                 for entry in item.get('findings') or []]
        hints = [clean_text('%s: %s' % (code, remediation(code))) for code in codes_of(item, ('error', 'warning'))]
        main = main_finding(item.get('findings'))
        message = clean_text('%s: %s' % (main.get('code'), clean_text(main.get('message')))) if main else ''
        kind = {'fail': 'failure', 'unknown': 'error', 'skipped': 'skipped'}.get(item['status'])
        if kind:
            element = ET.SubElement(case, kind, {'message': message, 'type': clean_text(main.get('code') if main else '')})
            if kind != 'skipped':
                element.text = '\n'.join(lines + ([''] + ['What to do:'] + hints if hints else []))
        if item.get('input') != item.get('domain'):
            lines = ['input: %s' % clean_text(item.get('input'))] + lines
        if lines:
            ET.SubElement(case, 'system-out').text = '\n'.join(lines)
    ET.indent(suites, space='  ')
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding='unicode') + '\n'
