# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verdict's words, shared by the audit (on the target) and the reports (on the controller).

Pure Python, no imports: a domain's status is one of STATUSES; the control's status follows from the counts.
"""

STATUSES = ('pass', 'fail', 'unknown', 'skipped')

# The order people read statuses in: what needs work first.
STATUS_ORDER = ('fail', 'unknown', 'pass', 'skipped')

# What a finding does to its domain's verdict (findings.CATALOG), most severe first.
EFFECTS = ('fail', 'unknown', 'warn', 'info', 'skip')


def control_status(counts):
    """EDCA-TLS-025 over all domains: fail if any fails, else unknown if any is unknown, else pass."""
    if counts.get('fail'):
        return 'fail'
    if counts.get('unknown'):
        return 'unknown'
    if counts.get('pass'):
        return 'pass'
    return 'skipped'


def count_statuses(domain_results):
    """Number of domains per status, every status present."""
    counts = dict((status, 0) for status in STATUSES)
    for result in domain_results:
        counts[result['status']] += 1
    return counts
