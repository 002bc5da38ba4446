# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every renderer shows the same way: a value as text (clean for XML, clipped), the order of domains, the
score and its explanation, numbers.

Controller-only; no Ansible imports. Every value that came from DNS, HTTP or the input list passes through
clean_text() before a renderer escapes it in its own syntax.
"""

import json
import re

from ansible_collections.mailsec.mta_sts.plugins.module_utils.clip import clip
from ansible_collections.mailsec.mta_sts.plugins.module_utils.findings import SEVERITY_ORDER
from ansible_collections.mailsec.mta_sts.plugins.module_utils.verdict import STATUS_ORDER

from .model import name_of

# The longest value a human-readable format shows in one place (a TXT record, a message, an error); the
# JSON report keeps the evidence as the audit returned it. A policy is at most 64 KiB (RFC 8461 section 3.3).
TEXT_LIMIT = 2000
POLICY_TEXT_LIMIT = 65536

STATUS_COLORS = {'pass': '#1a7f37', 'fail': '#cf222e', 'unknown': '#9a6700', 'skipped': '#6e7781'}
STATUS_LABELS = {'pass': 'Pass', 'fail': 'Fail', 'unknown': 'Unknown', 'skipped': 'Skipped'}
_RANK = dict((status, index) for index, status in enumerate(STATUS_ORDER))

# Characters XML 1.0 cannot carry at all (and that no report reader wants to see raw).
_NOT_XML = re.compile(u'[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]')


def clean_text(value, limit=TEXT_LIMIT):
    """Text of any value, clipped to ``limit`` characters, with characters XML 1.0 cannot hold shown as \\xNN."""
    if value is None:
        return ''
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return _NOT_XML.sub(lambda match: '\\x%02x' % ord(match.group(0)) if ord(match.group(0)) < 256
                        else '\\u%04x' % ord(match.group(0)), clip(value, limit) if limit else value)


def sorted_for_people(domains):
    """Failing first, then unknown, pass, skipped; by name within a status."""
    return sorted(domains, key=lambda item: (_RANK[item['status']], name_of(item)))


def codes_of(item, severities=SEVERITY_ORDER):
    """The finding codes of a domain with one of ``severities``, each once, in the order found."""
    out = []
    for entry in item.get('findings') or []:
        if entry.get('severity') in severities and entry.get('code') not in out:
            out.append(entry.get('code'))
    return out


def mx_hosts(item):
    return [host.get('host') for host in (item.get('mx') or {}).get('hosts') or []]


def status_line(report):
    counts = report['verdict']['counts']
    return ', '.join('%d %s' % (counts.get(status, 0), status) for status in STATUS_ORDER)


def number(value):
    return ('%.1f' % value).rstrip('0').rstrip('.') if value is not None else 'n/a'


def score_text(score):
    if score['ratio'] is None:
        return 'n/a (nothing verified)'
    return '%d / %d (%s%%)' % (score['earned'], score['possible'], number(score['percent']))


def score_explained(report):
    """Why the weighted score and the share of passing domains differ, in one sentence shown beside both.

    The score is per control (the control set's severityWeight, as the compliance tool computes it): one
    control earns its weight only when it passes, and it passes only when every judged domain does.
    """
    score = report['score']
    status = report['verdict']['status']
    weight = report['control'].get('severityWeight')
    domains = '%s of %s judged domains pass (%s%%)' % (
        score['domains_passing'], score['domains_judged'], number(score['domains_percent']))
    if score['ratio'] is None:
        return 'No domain could be judged, so the control earns no score; %s.' % domains
    if status == 'pass':
        return 'Every judged domain passes, so the control earns its full weight (%s); %s.' % (weight, domains)
    return ('The control %s - it earns its weight (%s) only when every judged domain passes - so the weighted '
            'score is 0%% although %s.' % ('fails' if status == 'fail' else 'is not verified', weight, domains))
