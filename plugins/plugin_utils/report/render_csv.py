# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CSV report: one row per domain, safe to open in a spreadsheet."""

import csv
import io

from ansible_collections.mailsec.mta_sts.plugins.module_utils.findings import main_finding, remediation

from .text import clean_text, codes_of, mx_hosts

EXTENSION = '.csv'
# Excel reads a CSV file as the system's ANSI code page unless it begins with a UTF-8 byte order mark:
# with it, names like bücher.example open intact.
ENCODING = 'utf-8-sig'

CSV_COLUMNS = ('domain', 'input', 'status', 'main_finding', 'findings', 'policy_id', 'policy_mode',
               'policy_max_age', 'policy_mx', 'mx_hosts', 'tlsrpt_rua', 'enforce_ready', 'enforce_blockers',
               'remediation')
FORMULA_START = ('=', '+', '-', '@', '\t', '\r')


def csv_cell(value):
    """A cell a spreadsheet shows as text: a leading = + - @ TAB or CR gets an apostrophe (OWASP CSV injection)."""
    if value is None:
        return ''
    if isinstance(value, (list, tuple)):
        value = clean_text(' '.join(clean_text(part) for part in value))
    else:
        value = clean_text(value)
    if value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_rows(report):
    for item in report['domains']:
        main = main_finding(item.get('findings'))
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
            'mx_hosts': mx_hosts(item),
            'tlsrpt_rua': tlsrpt.get('rua') or [],
            'enforce_ready': {True: 'yes', False: 'no'}.get(item.get('enforce_ready'), ''),
            'enforce_blockers': [entry.get('code') for entry in item.get('enforce_blockers') or []],
            'remediation': ' | '.join('%s: %s' % (code, remediation(code)) for code in codes_of(item, ('error', 'warning'))),
        }


def render_csv(report):
    """One row per domain (RFC 4180, CRLF line ends), every cell safe to open in a spreadsheet.

    The text has no byte order mark; the file gets one from ENCODING.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\r\n', quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_COLUMNS)
    for row in csv_rows(report):
        writer.writerow([csv_cell(row[column]) for column in CSV_COLUMNS])
    return out.getvalue()
