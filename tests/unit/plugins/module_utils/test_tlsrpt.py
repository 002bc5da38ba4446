# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TLS-RPT reports (RFC 8460): the schema rules, gzip, mail, files, mbox, Maildir, and the summary."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import gzip
import json
import mailbox
import os
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.mailsec.mta_sts.plugins.module_utils import tlsrpt as T

LAB = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'lab'))
if LAB not in sys.path:
    sys.path.insert(0, LAB)

from dovecot import failure, plain_mail, report_mail, tls_policy, tls_report  # noqa: E402

UTC = datetime.timezone.utc
NOW = datetime.datetime(2024, 5, 20, 12, 0, 0, tzinfo=UTC)

# RFC 8460 Appendix B, the example report.
RFC_EXAMPLE = {
    'organization-name': 'Company-X',
    'date-range': {'start-datetime': '2016-04-01T00:00:00Z', 'end-datetime': '2016-04-01T23:59:59Z'},
    'contact-info': 'sts-reporting@company-x.example',
    'report-id': '5065427c-23d3-47ca-b6e0-946ea0e8c4be',
    'policies': [{
        'policy': {
            'policy-type': 'sts',
            'policy-string': ['version: STSv1', 'mode: testing', 'mx: *.mail.company-y.example', 'max_age: 86400'],
            'policy-domain': 'company-y.example',
            'mx-host': ['*.mail.company-y.example'],
        },
        'summary': {'total-successful-session-count': 5326, 'total-failure-session-count': 303},
        'failure-details': [{
            'result-type': 'certificate-expired', 'sending-mta-ip': '2001:db8:abcd:0012::1',
            'receiving-mx-hostname': 'mx1.mail.company-y.example', 'failed-session-count': 100,
        }, {
            'result-type': 'starttls-not-supported', 'sending-mta-ip': '2001:db8:abcd:0013::1',
            'receiving-mx-hostname': 'mx2.mail.company-y.example', 'receiving-ip': '203.0.113.56',
            'failed-session-count': 200, 'additional-information': 'https://reports.company-x.example/report_info?id=5065427c-23d3',
        }, {
            'result-type': 'validation-failure', 'sending-mta-ip': '198.51.100.62', 'receiving-ip': '203.0.113.58',
            'receiving-mx-hostname': 'mx-backup.mail.company-y.example', 'failed-session-count': 3,
            'failure-reason-code': 'X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED',
        }],
    }],
}


def day(days_ago):
    return (NOW - datetime.timedelta(days=days_ago)).date()


def mutated(path, value, base=None):
    """A copy of the RFC example with the field at ``path`` (keys and indexes) set to ``value`` (or removed)."""
    report = copy.deepcopy(base or RFC_EXAMPLE)
    target = report
    for key in path[:-1]:
        target = target[key]
    if value is _REMOVE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return report


_REMOVE = object()


# ---------------------------------------------------------------------------------------------------------------
# Schema (RFC 8460 section 4.4)


def test_rfc_example_report_parses_with_every_field():
    report = T.parse_report(json.dumps(RFC_EXAMPLE), source='example.json')
    assert report.organization == 'Company-X'
    assert report.report_id == '5065427c-23d3-47ca-b6e0-946ea0e8c4be'
    assert report.contact == 'sts-reporting@company-x.example'
    assert report.start == datetime.datetime(2016, 4, 1, tzinfo=UTC)
    assert report.end == datetime.datetime(2016, 4, 1, 23, 59, 59, tzinfo=UTC)
    assert report.domains == ['company-y.example']
    policy = report.policies[0]
    assert (policy['type'], policy['successful_sessions'], policy['failed_sessions']) == ('sts', 5326, 303)
    assert policy['mx_patterns'] == ['*.mail.company-y.example']
    assert len(policy['strings']) == 4
    assert [item['count'] for item in policy['failures']] == [100, 200, 3]
    assert policy['failures'][1]['receiving_ip'] == '203.0.113.56'
    assert policy['failures'][2]['failure_reason_code'] == 'X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED'
    assert policy['failures'][0]['receiving_mx_helo'] is None
    assert report.to_dict()['start'] == '2016-04-01T00:00:00Z'


def test_report_given_as_object_bytes_or_gzip_is_the_same():
    as_text = T.parse_report(json.dumps(RFC_EXAMPLE)).to_dict()
    assert T.parse_report(RFC_EXAMPLE).to_dict() == as_text
    assert T.parse_report(json.dumps(RFC_EXAMPLE).encode('utf-8')).to_dict() == as_text
    assert T.parse_report(gzip.compress(json.dumps(RFC_EXAMPLE).encode('utf-8'))).to_dict() == as_text


@pytest.mark.parametrize('path, value, reason', [
    (('organization-name',), _REMOVE, 'organization-name is missing'),
    (('organization-name',), 42, 'organization-name is missing or not a string'),
    (('report-id',), _REMOVE, 'report-id is missing'),
    (('report-id',), '  ', 'report-id is missing'),
    (('date-range',), _REMOVE, 'date-range is missing'),
    (('date-range',), '2016-04-01', 'date-range is missing or not an object'),
    (('date-range', 'start-datetime'), _REMOVE, 'date-range.start-datetime is missing or invalid'),
    (('date-range', 'end-datetime'), '2016-04-01', 'date-range.end-datetime is missing or invalid'),
    (('date-range', 'end-datetime'), '2016-03-31T00:00:00Z', 'date-range ends before it starts'),
    (('policies',), _REMOVE, 'policies is missing or not an array'),
    (('policies',), {}, 'policies is missing or not an array'),
    (('policies', 0), 'sts', 'policies[0] is not an object'),
    (('policies', 0, 'policy'), _REMOVE, 'policies[0].policy is missing'),
    (('policies', 0, 'policy', 'policy-type'), 'dane', 'policies[0].policy.policy-type is \'dane\', not one of'),
    (('policies', 0, 'policy', 'policy-type'), _REMOVE, 'policies[0].policy.policy-type is missing'),
    (('policies', 0, 'policy', 'policy-domain'), _REMOVE, 'policies[0].policy.policy-domain is missing'),
    (('policies', 0, 'policy', 'policy-domain'), 'not a domain', 'policies[0].policy.policy-domain \'not a domain\' is not a domain'),
    (('policies', 0, 'policy', 'mx-host'), [1, 2], 'policies[0].policy.mx-host is not an array of strings'),
    (('policies', 0, 'policy', 'policy-string'), 'version: STSv1', None),  # a lone string is read as one item
    (('policies', 0, 'summary'), _REMOVE, 'policies[0].summary is missing'),
    (('policies', 0, 'summary', 'total-successful-session-count'), _REMOVE,
     'policies[0].summary.total-successful-session-count is missing or not a whole number'),
    (('policies', 0, 'summary', 'total-failure-session-count'), -1,
     'policies[0].summary.total-failure-session-count is missing or not a whole number'),
    (('policies', 0, 'summary', 'total-failure-session-count'), '303', 'not a whole number'),
    (('policies', 0, 'summary', 'total-failure-session-count'), 303.0, 'not a whole number'),
    (('policies', 0, 'summary', 'total-failure-session-count'), True, 'not a whole number'),
    (('policies', 0, 'failure-details'), {}, 'policies[0].failure-details is not an array'),
    (('policies', 0, 'failure-details', 1), 'x', 'policies[0].failure-details[1] is not an object'),
    (('policies', 0, 'failure-details', 1, 'result-type'), _REMOVE, 'policies[0].failure-details[1].result-type is missing'),
    (('policies', 0, 'failure-details', 2, 'failed-session-count'), _REMOVE,
     'policies[0].failure-details[2].failed-session-count is missing'),
    (('policies', 0, 'failure-details', 0, 'receiving-mx-hostname'), ['mx1'],
     'policies[0].failure-details[0].receiving-mx-hostname is missing or not a string'),
])
def test_schema_rule(path, value, reason):
    report = mutated(path, value)
    if reason is None:
        assert T.parse_report(report).policies[0]['strings'] == ['version: STSv1']
        return
    with pytest.raises(T.ReportError) as caught:
        T.parse_report(report)
    assert reason in str(caught.value)


@pytest.mark.parametrize('path', [
    ('contact-info',),
    ('policies', 0, 'failure-details'),
    ('policies', 0, 'policy', 'mx-host'),
    ('policies', 0, 'policy', 'policy-string'),
    ('policies', 0, 'failure-details', 0, 'sending-mta-ip'),  # Microsoft leaves it out for policy fetch errors
    ('policies', 0, 'failure-details', 0, 'receiving-mx-hostname'),
])
def test_optional_field_may_be_missing(path):
    T.parse_report(mutated(path, _REMOVE))


def test_report_that_is_not_json_or_not_an_object_is_malformed():
    for data, reason in ((b'{"organization-name": ', 'not JSON'), (b'[1, 2]', 'not a JSON object'), (b'', 'not JSON')):
        with pytest.raises(T.ReportError) as caught:
            T.parse_report(data)
        assert reason in str(caught.value)


def test_policy_domain_is_normalised_and_mx_host_lowercased():
    report = T.parse_report(mutated(('policies', 0, 'policy', 'policy-domain'), 'Company-Y.Example.'))
    assert report.domains == ['company-y.example']
    report = T.parse_report(mutated(('policies', 0, 'failure-details', 0, 'receiving-mx-hostname'), 'MX1.Mail.company-y.example.'))
    assert report.policies[0]['failures'][0]['receiving_mx_hostname'] == 'mx1.mail.company-y.example'


def test_missing_policy_domain_taken_from_tls_report_domain_header():
    report = mutated(('policies', 0, 'policy', 'policy-domain'), _REMOVE)
    assert T.parse_report(report, default_domain='company-y.example').domains == ['company-y.example']


def test_unregistered_result_type_is_counted_under_its_name():
    report = T.parse_report(mutated(('policies', 0, 'failure-details', 0, 'result-type'), 'bad-certificate'))
    assert T.summarize_reports([report])['failure_types']['bad-certificate'] == 100


# ---------------------------------------------------------------------------------------------------------------
# Times and windows


@pytest.mark.parametrize('text, expected', [
    ('2016-04-01T00:00:00Z', datetime.datetime(2016, 4, 1, tzinfo=UTC)),
    ('2016-04-01t00:00:00z', datetime.datetime(2016, 4, 1, tzinfo=UTC)),
    ('2016-04-01T02:00:00+02:00', datetime.datetime(2016, 4, 1, tzinfo=UTC)),
    ('2016-03-31T19:30:00.123-04:30', datetime.datetime(2016, 4, 1, tzinfo=UTC)),
    ('2016-04-01T00:00:00', datetime.datetime(2016, 4, 1, tzinfo=UTC)),
    ('2016-12-31T23:59:60Z', datetime.datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)),
])
def test_rfc3339_date_time(text, expected):
    assert T.parse_datetime(text) == expected


@pytest.mark.parametrize('text', ['2016-04-01', '01/04/2016', '2016-13-01T00:00:00Z', 20160401, None, ''])
def test_rfc3339_date_time_rejects(text):
    with pytest.raises(ValueError):
        T.parse_datetime(text)


@pytest.mark.parametrize('value, end_of_day, expected', [
    (None, False, None),
    (7, False, NOW - datetime.timedelta(days=7)),
    ('7', False, NOW - datetime.timedelta(days=7)),
    (0, False, NOW),
    ('2024-05-01', False, datetime.datetime(2024, 5, 1, tzinfo=UTC)),
    ('2024-05-01', True, datetime.datetime(2024, 5, 2, tzinfo=UTC)),
    (datetime.date(2024, 5, 1), False, datetime.datetime(2024, 5, 1, tzinfo=UTC)),
    ('2024-05-01T06:00:00+02:00', True, datetime.datetime(2024, 5, 1, 4, tzinfo=UTC)),
])
def test_window_bound(value, end_of_day, expected):
    assert T.window_bound(value, NOW, end_of_day) == expected


@pytest.mark.parametrize('value', [-1, True, 'last week', '2024-05', 1.5])
def test_window_bound_rejects(value):
    with pytest.raises(ValueError):
        T.window_bound(value, NOW)


# ---------------------------------------------------------------------------------------------------------------
# gzip


def test_gzip_report_and_multi_member_gzip():
    data = json.dumps(RFC_EXAMPLE).encode('utf-8')
    assert T.parse_report(gzip.compress(data)).report_id == RFC_EXAMPLE['report-id']
    assert T.gunzip(gzip.compress(data[:50]) + gzip.compress(data[50:])) == data


def test_truncated_or_corrupt_gzip_is_malformed():
    packed = gzip.compress(json.dumps(RFC_EXAMPLE).encode('utf-8'))
    with pytest.raises(T.ReportError, match='truncated'):
        T.parse_report(packed[:len(packed) // 2])
    with pytest.raises(T.ReportError, match='corrupt'):
        T.parse_report(packed[:10] + b'\x00' * 40)


def test_gzip_bomb_stops_at_the_limit(monkeypatch):
    monkeypatch.setattr(T, 'MAX_REPORT_BYTES', 1000)
    with pytest.raises(T.ReportError, match='larger than 1000 bytes'):
        T.parse_report(gzip.compress(b' ' * 100000 + json.dumps(RFC_EXAMPLE).encode('utf-8')))


# ---------------------------------------------------------------------------------------------------------------
# Mail (RFC 8460 section 5.3)


def test_mail_with_gzip_attachment():
    found = T.read_message(report_mail(RFC_EXAMPLE, message_id='<r1@sender.example>'), 'm1')
    assert (len(found.reports), found.malformed, found.non_reports, found.sources_read) == (1, [], [], 1)
    assert found.reports[0].message_id == '<r1@sender.example>'
    assert found.reports[0].source == 'm1'


def test_mail_with_json_attachment_and_single_part_mail():
    assert len(T.read_message(report_mail(RFC_EXAMPLE, compress=False), 'm').reports) == 1
    assert len(T.read_message(report_mail(RFC_EXAMPLE, compress=False, multipart=False), 'm').reports) == 1
    assert len(T.read_message(report_mail(RFC_EXAMPLE, multipart=False), 'm').reports) == 1


def test_mail_with_loose_media_type_needs_a_report_file_name():
    loose = report_mail(RFC_EXAMPLE, media_type='application/gzip')
    assert len(T.read_message(loose, 'm').reports) == 1
    unnamed = report_mail(RFC_EXAMPLE, media_type='application/gzip', filename='photo.bin')
    assert T.read_message(unnamed, 'm').non_reports[0]['reason'].startswith('mail without a TLS-RPT report')


def test_mail_without_report_is_a_non_report_not_malformed():
    found = T.read_message(plain_mail(message_id='<lunch@example.net>'), 'm')
    assert (found.reports, found.malformed) == ([], [])
    reason = 'mail without a TLS-RPT report (no application/tlsrpt+json or application/tlsrpt+gzip part)'
    assert found.non_reports == [{'source': 'm', 'message_id': '<lunch@example.net>', 'reason': reason}]


def test_malformed_attachment_is_named_with_message_id_and_domain():
    body = json.dumps(mutated(('policies', 0, 'summary', 'total-failure-session-count'), 'many')).encode('utf-8')
    found = T.read_message(report_mail(RFC_EXAMPLE, body=body, message_id='<bad@sender.example>'), 'box/cur/1')
    assert found.reports == []
    assert found.malformed == [{
        'source': 'box/cur/1', 'message_id': '<bad@sender.example>', 'domains': ['company-y.example'],
        'reason': 'policies[0].summary.total-failure-session-count is missing or not a whole number >= 0'}]


def test_tlsrpt_gzip_part_that_is_not_gzip_is_malformed():
    mail = report_mail(RFC_EXAMPLE, compress=False, media_type='application/tlsrpt+gzip')
    assert 'is not gzip data' in T.read_message(mail, 'm').malformed[0]['reason']


def test_truncated_json_in_mail_is_malformed():
    body = json.dumps(RFC_EXAMPLE).encode('utf-8')[:120]
    found = T.read_message(report_mail(RFC_EXAMPLE, body=body), 'm')
    assert found.malformed[0]['reason'].startswith('not JSON')
    assert found.malformed[0]['domains'] == ['company-y.example']  # from the TLS-Report-Domain header


def test_mail_without_policy_domain_uses_tls_report_domain_header():
    report = mutated(('policies', 0, 'policy', 'policy-domain'), _REMOVE)
    report['policies'].append(copy.deepcopy(RFC_EXAMPLE['policies'][0]))  # report_mail names the domain from here
    report['policies'].reverse()
    found = T.read_message(report_mail(report), 'm')
    assert found.reports[0].domains == ['company-y.example']


# ---------------------------------------------------------------------------------------------------------------
# Files, directories, mbox, Maildir


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as handle:
        handle.write(data)
    return path


def report_for(organization, report_id, domain='company-y.example', days_ago=2, failures=()):
    return tls_report(organization, report_id, day(days_ago), [tls_policy(domain, 10, failures)])


def test_directory_with_every_kind_of_file(tmp_path):
    root = str(tmp_path)
    write(os.path.join(root, 'a.json'), json.dumps(report_for('Org A', 'a')).encode('utf-8'))
    write(os.path.join(root, 'sub', 'b.json.gz'), gzip.compress(json.dumps(report_for('Org B', 'b')).encode('utf-8')))
    write(os.path.join(root, 'c.eml'), report_mail(report_for('Org C', 'c')))
    write(os.path.join(root, 'bom.json'), b'\xef\xbb\xbf' + json.dumps(report_for('Org D', 'd')).encode('utf-8'))
    write(os.path.join(root, 'broken.json'), b'{"organization-name": "Org E"')
    write(os.path.join(root, 'broken.json.gz'), b'\x1f\x8b\x08\x00garbage')
    write(os.path.join(root, 'notes.txt'), b'just some notes\n')
    found = T.load_reports([root])
    assert sorted(report.organization for report in found.reports) == ['Org A', 'Org B', 'Org C', 'Org D']
    assert sorted(os.path.basename(item['source']) for item in found.malformed) == ['broken.json', 'broken.json.gz']
    assert [os.path.basename(item['source']) for item in found.non_reports] == ['notes.txt']
    assert found.sources_read == 6


def test_mbox_reads_every_mail(tmp_path):
    path = str(tmp_path / 'reports.mbox')
    box = mailbox.mbox(path)
    box.add(report_mail(report_for('Org A', 'a'), message_id='<a@x>'))
    box.add(plain_mail(message_id='<lunch@x>'))
    box.add(report_mail(report_for('Org B', 'b'), body=b'{}', message_id='<b@x>'))
    box.close()
    found = T.load_reports([path])
    assert [report.source for report in found.reports] == ['%s[1]' % path]
    assert found.non_reports[0]['source'] == '%s[2]' % path
    assert (found.malformed[0]['source'], found.malformed[0]['message_id']) == ('%s[3]' % path, '<b@x>')


def test_maildir_reads_cur_new_and_subfolders_not_tmp_or_index_files(tmp_path):
    root = str(tmp_path / 'Maildir')
    write(os.path.join(root, 'new', '1.host'), report_mail(report_for('Org A', 'a')))
    write(os.path.join(root, 'cur', '2.host:2,S'), report_mail(report_for('Org B', 'b')))
    write(os.path.join(root, 'tmp', '3.host'), report_mail(report_for('Org C', 'c'))[:200])  # delivery in progress
    write(os.path.join(root, 'dovecot-uidlist'), b'3 V1 N3\n')
    write(os.path.join(root, 'dovecot.index.log'), b'\x01\x02\x00binary')
    write(os.path.join(root, '.Reports.TLS', 'cur', '4.host:2,'), report_mail(report_for('Org D', 'd')))
    os.makedirs(os.path.join(root, '.Reports.TLS', 'new'))
    found = T.load_reports([root])
    assert sorted(report.organization for report in found.reports) == ['Org A', 'Org B', 'Org D']
    assert (found.malformed, found.non_reports) == ([], [])


def test_missing_path_is_a_source_error(tmp_path):
    with pytest.raises(T.TlsrptSourceError, match='does not exist'):
        T.load_reports([str(tmp_path / 'nope')])


def test_file_too_large_is_malformed(tmp_path, monkeypatch):
    monkeypatch.setattr(T, 'MAX_MESSAGE_BYTES', 100)
    path = write(str(tmp_path / 'big.json'), json.dumps(RFC_EXAMPLE).encode('utf-8'))
    assert T.load_reports([path]).malformed[0]['reason'] == 'larger than 100 bytes'


# ---------------------------------------------------------------------------------------------------------------
# Summary


def summary_of(*reports, **kwargs):
    kwargs.setdefault('now', NOW)
    return T.summarize_reports([T.parse_report(item, source='r%d' % index) for index, item in enumerate(reports)], **kwargs)


def test_counts_of_the_rfc_example():
    result = T.summarize_reports([RFC_EXAMPLE])
    entry = result['domains']['company-y.example']
    assert (entry['successful_sessions'], entry['failed_sessions'], entry['reports']) == (5326, 303, 1)
    assert entry['failure_types'] == {'certificate-expired': 100, 'starttls-not-supported': 200, 'validation-failure': 3}
    assert entry['policy_types'] == {'sts': {'successful_sessions': 5326, 'failed_sessions': 303}}
    assert entry['organizations'] == ['Company-X']
    assert entry['date_range'] == {'start': '2016-04-01T00:00:00Z', 'end': '2016-04-01T23:59:59Z'}
    assert entry['mx_hosts']['mx2.mail.company-y.example'] == {
        'failed_sessions': 200, 'failure_types': {'starttls-not-supported': 200}, 'receiving_ips': ['203.0.113.56'],
        'pattern': '*.mail.company-y.example'}
    assert entry['mx_hosts_not_covered'] == []
    assert (entry['ready'], entry['reasons']) == (False, ['tlsrpt-failures'])
    assert (result['successful_sessions'], result['failed_sessions'], result['reports']) == (5326, 303, 1)


def test_counts_add_up_over_reports_organizations_and_policy_types():
    first = tls_report('Google Inc.', 'g1', day(3), [
        tls_policy('example.org', 900, [failure('certificate-expired', 4, 'mx1.example.org'),
                                        failure('sts-policy-fetch-error', 1)]),
        tls_policy('example.net', 50),
    ])
    second = tls_report('Microsoft Corporation', 'm1', day(2), [
        tls_policy('example.org', 100, [failure('certificate-expired', 2, 'MX1.example.org', '192.0.2.1'),
                                        failure('starttls-not-supported', 5, 'mx9.elsewhere.example')]),
        tls_policy('example.org', 7, policy_type='no-policy-found'),
    ])
    result = summary_of(first, second)
    org = result['domains']['example.org']
    assert (org['reports'], org['successful_sessions'], org['failed_sessions']) == (2, 1007, 12)
    assert org['failure_types'] == {'certificate-expired': 6, 'starttls-not-supported': 5, 'sts-policy-fetch-error': 1}
    assert org['policy_types'] == {'sts': {'successful_sessions': 1000, 'failed_sessions': 12},
                                   'no-policy-found': {'successful_sessions': 7, 'failed_sessions': 0}}
    assert org['organizations'] == ['Google Inc.', 'Microsoft Corporation']
    assert org['mx_hosts']['mx1.example.org']['failed_sessions'] == 6
    assert org['mx_hosts']['mx1.example.org']['receiving_ips'] == ['192.0.2.1']
    assert org['mx_hosts_not_covered'] == ['mx9.elsewhere.example']
    assert org['date_range'] == {'start': '%sT00:00:00Z' % day(3), 'end': '%sT23:59:59Z' % day(2)}
    net = result['domains']['example.net']
    assert (net['ready'], net['reasons'], net['successful_sessions']) == (True, [], 50)
    assert result['organizations'] == ['Google Inc.', 'Microsoft Corporation']
    assert (result['successful_sessions'], result['failed_sessions']) == (1057, 12)


def test_domain_filter_lists_asked_domains_only_and_those_without_reports():
    report = tls_report('Org', 'r', day(1), [tls_policy('example.org', 10), tls_policy('example.net', 5, [failure('dnssec-invalid', 1)])])
    result = summary_of(report, domains=['Example.ORG.', 'bücher.example'])
    assert list(result['domains']) == ['example.org', 'xn--bcher-kva.example']
    assert result['domains']['example.org']['ready'] is True
    assert result['domains']['xn--bcher-kva.example']['reasons'] == ['tlsrpt-no-reports']
    assert (result['successful_sessions'], result['failed_sessions'], result['failure_types']) == (10, 0, {})
    assert summary_of(report, domains=['example.com'])['reports'] == 0


def test_domain_filter_rejects_a_name_that_is_not_a_domain():
    with pytest.raises(ValueError, match='not a domain name'):
        summary_of(RFC_EXAMPLE, domains=['not a domain'])


def test_failed_sessions_without_details_still_make_a_domain_not_ready():
    report = tls_report('Org', 'r', day(1), [tls_policy('example.org', 10, failed=3)])
    entry = summary_of(report)['domains']['example.org']
    assert (entry['failed_sessions'], entry['failure_types'], entry['ready']) == (3, {}, False)


def test_duplicate_reports_count_once():
    report = tls_report('Org', 'same-id', day(1), [tls_policy('example.org', 10, [failure('certificate-expired', 1, 'mx.example.org')])])
    result = summary_of(report, copy.deepcopy(report))
    assert (result['reports'], result['duplicates'], result['failed_sessions']) == (1, 1, 1)


def test_date_window_since_days_dates_and_until():
    old = tls_report('Org', 'old', day(40), [tls_policy('example.org', 1, [failure('certificate-expired', 9, 'mx.example.org')])])
    recent = tls_report('Org', 'recent', day(3), [tls_policy('example.org', 100)])
    everything = summary_of(old, recent)
    assert (everything['reports'], everything['failed_sessions']) == (2, 9)
    last_month = summary_of(old, recent, since=30)
    assert (last_month['reports'], last_month['outside_window'], last_month['failed_sessions']) == (1, 1, 0)
    assert last_month['domains']['example.org']['ready'] is True
    assert last_month['window'] == {'since': '2024-04-20T12:00:00Z', 'until': None}
    assert summary_of(old, recent, since=str(day(40)))['reports'] == 2
    assert summary_of(old, recent, since=str(day(39)))['reports'] == 1
    assert summary_of(old, recent, until=str(day(40)))['reports'] == 1  # until is the whole day
    only_old = summary_of(old, recent, since=str(day(41)), until=str(day(40)))
    assert (only_old['reports'], only_old['failed_sessions']) == (1, 9)
    assert summary_of(old, recent, since='%sT12:00:00Z' % day(3))['reports'] == 1  # overlap counts


def test_malformed_reports_are_listed_and_held_against_their_domain():
    malformed = [{'source': 'box/cur/9', 'message_id': '<m@x>', 'reason': 'not JSON', 'domains': ['example.org']},
                 {'source': 'x.json', 'message_id': None, 'reason': 'not JSON', 'domains': []}]
    good = tls_report('Org', 'r', day(1), [tls_policy('example.org', 10)])
    result = summary_of(good, malformed=malformed)
    assert result['malformed_count'] == 2
    assert result['malformed'] == malformed
    entry = result['domains']['example.org']
    assert (entry['malformed_reports'], entry['ready'], entry['reasons']) == (1, False, ['tlsrpt-malformed'])
    filtered = summary_of(good, malformed=malformed, domains=['example.net'])
    assert filtered['domains']['example.net']['malformed_reports'] == 0
    assert filtered['malformed_count'] == 2


def test_raw_dicts_that_break_the_schema_are_counted_not_raised():
    broken = mutated(('policies', 0, 'summary'), _REMOVE)
    result = T.summarize_reports([RFC_EXAMPLE, broken])
    assert result['reports'] == 1
    assert result['malformed'] == [{'source': 'reports[1]', 'message_id': None, 'domains': ['company-y.example'],
                                    'reason': 'policies[0].summary is missing or not an object'}]
    assert result['domains']['company-y.example']['malformed_reports'] == 1


def test_summary_of_nothing():
    result = T.summarize_reports([])
    assert (result['reports'], result['domains'], result['date_range'], result['failure_types']) == (0, {}, None, {})


def test_summary_is_json_serialisable():
    json.dumps(summary_of(RFC_EXAMPLE, malformed=[{'source': 's', 'message_id': None, 'reason': 'r', 'domains': []}]))


# ---------------------------------------------------------------------------------------------------------------
# Properties


_json_scalars = st.none() | st.booleans() | st.integers(-5, 10 ** 6) | st.floats(allow_nan=False) | st.text(max_size=20)
_json = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                     max_leaves=20)
_fields = st.sampled_from([
    ('organization-name',), ('report-id',), ('contact-info',), ('date-range',), ('date-range', 'start-datetime'),
    ('policies',), ('policies', 0), ('policies', 0, 'policy'), ('policies', 0, 'policy', 'policy-type'),
    ('policies', 0, 'policy', 'policy-domain'), ('policies', 0, 'policy', 'mx-host'), ('policies', 0, 'summary'),
    ('policies', 0, 'summary', 'total-failure-session-count'), ('policies', 0, 'failure-details'),
    ('policies', 0, 'failure-details', 0), ('policies', 0, 'failure-details', 0, 'result-type'),
    ('policies', 0, 'failure-details', 0, 'failed-session-count'), ('policies', 0, 'failure-details', 0, 'receiving-ip'),
])


@settings(max_examples=300, deadline=None)
@given(_fields, _json)
def test_property_any_field_value_parses_or_raises_report_error(path, value):
    try:
        report = T.parse_report(mutated(path, value))
    except T.ReportError:
        return
    T.summarize_reports([report])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_property_any_bytes_parse_or_raise_report_error(data):
    try:
        T.parse_report(data)
    except T.ReportError:
        pass
    T.read_message(data, 'm')


_result_types = st.sampled_from(T.RESULT_TYPES + ('bad-certificate',))
_failures = st.lists(st.tuples(_result_types, st.integers(0, 1000), st.sampled_from([None, 'mx1.example.org', 'mx2.example.net'])),
                     max_size=4)
_policies = st.lists(st.tuples(st.sampled_from(['example.org', 'example.net', 'example.com']), st.integers(0, 10 ** 6), _failures),
                     min_size=1, max_size=3)


@settings(max_examples=150, deadline=None)
@given(st.lists(_policies, max_size=5))
def test_property_summary_counts_match_the_reports(reports):
    built = []
    for index, policies in enumerate(reports):
        built.append(tls_report('Org %d' % index, 'id-%d' % index, day(1), [
            tls_policy(domain, successful, [failure(kind, count, mx) for kind, count, mx in failures])
            for domain, successful, failures in policies]))
    result = summary_of(*built)
    assert result['successful_sessions'] == sum(item[1] for policies in reports for item in policies)
    assert result['failed_sessions'] == sum(count for policies in reports for item in policies for _kind, count, _mx in item[2])
    assert sum(result['failure_types'].values()) == result['failed_sessions']
    for domain, entry in result['domains'].items():
        assert entry['successful_sessions'] == sum(item[1] for policies in reports for item in policies if item[0] == domain)
        assert entry['ready'] == (entry['failed_sessions'] == 0 and not entry['failure_types'])
        assert sum(mx['failed_sessions'] for mx in entry['mx_hosts'].values()) <= entry['failed_sessions']
    assert sum(entry['successful_sessions'] for entry in result['domains'].values()) == result['successful_sessions']
