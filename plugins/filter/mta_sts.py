# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over the audit's own parsers: the same code the module runs."""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.mailsec.mta_sts.plugins.module_utils.clip import clip
from ansible_collections.mailsec.mta_sts.plugins.module_utils.findings import effect
from ansible_collections.mailsec.mta_sts.plugins.module_utils.findings import main_finding as _main_finding
from ansible_collections.mailsec.mta_sts.plugins.module_utils.policy import check_policy
from ansible_collections.mailsec.mta_sts.plugins.module_utils.record import RecordError, join_txt_strings
from ansible_collections.mailsec.mta_sts.plugins.module_utils.record import parse_sts_record


def parse_record(value, strict=True):
    """Parse a v=STSv1 TXT record (a string, or the list of strings of one record)."""
    if isinstance(value, (list, tuple)):
        value = join_txt_strings(to_text(part) for part in value)
    if not isinstance(value, str):
        raise AnsibleFilterError('parse_record expects a string or a list of strings, got %s' % type(value).__name__)
    try:
        parsed = parse_sts_record(to_text(value))
    except RecordError as exc:
        if strict:
            raise AnsibleFilterError('%s: %s' % (exc.code, exc))
        return {'valid': False, 'errors': [{'code': exc.code, 'message': str(exc)}], 'warnings': []}
    parsed['valid'] = True
    parsed['errors'] = []
    return parsed


def parse_policy(value, strict=True):
    """Parse the text of an MTA-STS policy; what senders ignore (RFC 8461 section 3.2) is in ``warnings``."""
    if not isinstance(value, (str, bytes)):
        raise AnsibleFilterError('parse_policy expects a string, got %s' % type(value).__name__)
    parsed, problems = check_policy(value)
    if parsed is not None:
        parsed['valid'] = True
        parsed['errors'] = []
        return parsed
    errors = [{'code': code, 'message': message} for code, message in problems if effect(code) != 'warn']
    if strict:
        raise AnsibleFilterError('; '.join('%s: %s' % (item['code'], item['message']) for item in errors))
    return {'valid': False, 'errors': errors,
            'warnings': [{'code': code, 'message': message} for code, message in problems if effect(code) == 'warn']}


def audit_table(result, width=40):
    """Fixed-width lines - domain, status, main finding - for people reading a playbook's output."""
    if not isinstance(result, dict) or not isinstance(result.get('domains'), list):
        raise AnsibleFilterError('audit_table expects the registered result of mailsec.mta_sts.audit')
    lines = ['%-*s %-8s %s' % (width, 'DOMAIN', 'STATUS', 'MAIN FINDING')]
    for entry in result['domains']:
        name = to_text(entry.get('domain') or entry.get('input'))
        lines.append('%-*s %-8s %s' % (width, name[:width], entry.get('status'), main_finding(entry.get('findings') or [])))
    control = result.get('control')
    if control:
        counts = control.get('counts', {})
        lines.append('%s %s: %s (%s)' % (control.get('id'), control.get('title'), control.get('status'),
                                         ', '.join('%s %s' % (counts.get(k, 0), k) for k in ('pass', 'fail', 'unknown', 'skipped'))))
    return lines


def main_finding(findings):
    """The finding that explains a verdict best (findings.main_finding), as one short line."""
    item = _main_finding(findings)
    return '%s: %s' % (item.get('code'), clip(to_text(item.get('message')), 100)) if item else '-'


class FilterModule:

    def filters(self):
        return {
            'parse_record': parse_record,
            'parse_policy': parse_policy,
            'audit_table': audit_table,
        }
