# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RFC 8461 section 4.1 with RFC 6125 section 6.4.2: names are compared as A-labels, U-labels converted
first (IDNA2008), wherever a host name comes from: DNS, a policy, the deploy role's input, a TLS-RPT report."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.mailsec.mta_sts.plugins.module_utils import tlsrpt as T
from ansible_collections.mailsec.mta_sts.plugins.module_utils.domain import comparable_name


@pytest.mark.parametrize('name, expected', [
    (u'MX.B\u00dcCHER.example.', 'mx.xn--bcher-kva.example'),
    (u'*.b\u00fccher.example', '*.xn--bcher-kva.example'),
    ('MX1.Example.ORG.', 'mx1.example.org'),
    (u'fa\u00df.de', 'xn--fa-hia.de'),
    (u'\u2603\u200d.example', u'\u2603\u200d.example'),  # IDNA2008 refuses it: kept, lowercased, matches only itself
])
def test_comparable_name_is_lowercase_a_labels(name, expected):
    assert comparable_name(name) == expected


def _report(mx_host, receiving):
    return json.dumps({
        'organization-name': 'Sender', 'report-id': 'idn-1', 'contact-info': 'tls@sender.example',
        'date-range': {'start-datetime': '2026-11-01T00:00:00Z', 'end-datetime': '2026-11-01T23:59:59Z'},
        'policies': [{
            'policy': {'policy-type': 'sts', 'policy-domain': u'b\u00fccher.example', 'mx-host': [mx_host],
                       'policy-string': ['version: STSv1', 'mode: testing', 'mx: %s' % mx_host, 'max_age: 86400']},
            'summary': {'total-successful-session-count': 10, 'total-failure-session-count': 1},
            'failure-details': [{'result-type': 'certificate-expired', 'receiving-mx-hostname': receiving,
                                 'failed-session-count': 1}],
        }],
    }).encode('utf-8')


@pytest.mark.parametrize('mx_host, receiving', [
    ('*.xn--bcher-kva.example', u'mx1.b\u00fccher.example'),
    (u'*.b\u00fccher.example', 'mx1.xn--bcher-kva.example'),
    (u'mx1.B\u00dcCHER.example', 'MX1.xn--bcher-kva.example.'),
])
def test_tlsrpt_report_host_names_match_in_a_labels(mx_host, receiving):
    summary = T.summarize_reports([T.parse_report(_report(mx_host, receiving))])
    entry = summary['domains']['xn--bcher-kva.example']
    assert list(entry['mx_hosts']) == ['mx1.xn--bcher-kva.example']
    assert entry['mx_hosts_not_covered'] == []
