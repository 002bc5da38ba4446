# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile input never takes a TLS-RPT read down: nesting, MIME, directory cycles, huge mails, the run budget.

Each bad input is named (malformed or incomplete) and the good reports beside it are kept.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import gzip
import json
import mailbox
import os
import sys
import time

import pytest

from ansible_collections.mailsec.mta_sts.plugins.module_utils import tlsrpt as T

LAB = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'lab'))
if LAB not in sys.path:
    sys.path.insert(0, LAB)

from dovecot import report_mail, tls_policy, tls_report  # noqa: E402

DAY = datetime.date(2024, 5, 1)
DEEP_JSON = '[' * 100000 + ']' * 100000
DEEP_OBJECT_5000 = ('{"a":' * 5000 + '1' + '}' * 5000).encode('ascii')


def good(report_id, domain='good.example'):
    return tls_report('Org %s' % report_id, report_id, DAY, [tls_policy(domain, 10)])


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as handle:
        handle.write(data)
    return path


def deep_gzip_mail():
    """5,000 levels of JSON, gzip'd into a mail of about 1 KB that names its domain in the header."""
    return report_mail(good('deep', 'victim.example'), body=DEEP_OBJECT_5000, message_id='<deep@attacker.example>')


def nested_mime(depth, inner=b'Content-Type: text/plain\r\n\r\nhello\r\n'):
    head, tail = b'', b''
    for level in range(depth):
        head += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level)
        tail = b'\r\n--b%d--\r\n' % level + tail
    return (b'From: attacker@example.net\r\nMessage-ID: <mime@attacker.example>\r\nTLS-Report-Domain: victim.example\r\n'
            + head + inner + tail)


# ---------------------------------------------------------------------------------------------------------------
# JSON nesting (bounded before json.loads, never a RecursionError)


def test_json_nested_100000_deep_is_a_report_error():
    started = time.monotonic()
    with pytest.raises(T.ReportError, match='nested deeper than 64 levels'):
        T.parse_report(DEEP_JSON)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize('encoding', ['utf-8', 'utf-16', 'utf-32'])
def test_json_nesting_is_checked_in_every_json_encoding(encoding):
    with pytest.raises(T.ReportError, match='nested deeper'):
        T.parse_report(DEEP_JSON.encode(encoding))


def test_json_depth_bound_is_exact_and_ignores_brackets_in_strings():
    assert not T.json_depth_exceeds('[' * 64 + ']' * 64)
    assert T.json_depth_exceeds('[' * 65 + ']' * 65)
    assert not T.json_depth_exceeds(json.dumps({'x': '[' * 1000, 'y': '\\"{{{{' * 100}))
    report = good('strings')
    report['contact-info'] = '{' * 500 + ' "quoted \\" [' * 50
    assert T.parse_report(json.dumps(report)).report_id == 'strings'


def test_domains_named_of_deep_json_is_empty_not_a_crash():
    assert T.domains_named(DEEP_JSON.encode('ascii')) == set()
    assert T.domains_named(gzip.compress(DEEP_OBJECT_5000)) == set()


def test_deep_gzip_report_in_a_small_mail_is_malformed_and_named():
    mail = deep_gzip_mail()
    assert len(mail) < 2048
    found = T.read_message(mail, 'm1')
    assert found.reports == []
    assert found.malformed == [{'source': 'm1', 'message_id': '<deep@attacker.example>', 'domains': ['victim.example'],
                                'reason': 'not JSON this reader accepts: arrays and objects nested deeper than 64 levels'}]


def test_deep_reports_from_file_mbox_and_maildir_beside_good_ones(tmp_path):
    root = str(tmp_path)
    write(os.path.join(root, 'deep.json'), DEEP_JSON.encode('ascii'))
    write(os.path.join(root, 'deep.json.gz'), gzip.compress(DEEP_OBJECT_5000))
    write(os.path.join(root, 'good.json'), json.dumps(good('file')).encode('ascii'))
    box = mailbox.mbox(os.path.join(root, 'box.mbox'))
    box.add(deep_gzip_mail())
    box.add(report_mail(good('mbox')))
    box.close()
    write(os.path.join(root, 'Maildir', 'cur', '1.host:2,S'), deep_gzip_mail())
    write(os.path.join(root, 'Maildir', 'new', '2.host'), report_mail(good('maildir')))
    write(os.path.join(root, 'Maildir', 'new', '3.host'), nested_mime(2000))
    found = T.load_reports([root])
    assert sorted(report.report_id for report in found.reports) == ['file', 'maildir', 'mbox']
    assert sorted(os.path.relpath(item['source'], root) for item in found.malformed) == [
        'Maildir/cur/1.host:2,S', 'Maildir/new/3.host', 'box.mbox[1]', 'deep.json', 'deep.json.gz']
    assert found.incomplete == []


# ---------------------------------------------------------------------------------------------------------------
# MIME nesting (walked without recursion, bounded)


def test_mime_nested_2000_deep_is_malformed_and_named():
    found = T.read_message(nested_mime(2000), 'm')
    assert found.malformed == [{'source': 'm', 'message_id': '<mime@attacker.example>', 'domains': ['victim.example'],
                                'reason': 'MIME parts nested deeper than 64 levels'}]


def test_message_rfc822_nested_3000_deep_is_malformed():
    mail = report_mail(good('inner'))
    for _level in range(3000):
        mail = b'Content-Type: message/rfc822\r\n\r\n' + mail
    assert T.read_message(mail, 'm').malformed[0]['reason'] == 'MIME parts nested deeper than 64 levels'


def test_report_nested_within_the_bound_is_read():
    mail = report_mail(good('nested'))
    for level in range(40):
        mail = b'Content-Type: multipart/mixed; boundary="n%d"\n\n--n%d\n%s\n--n%d--\n' % (level, level, mail, level)
    mail = b'Content-Type: message/rfc822\n\n' + mail
    assert [report.report_id for report in T.read_message(mail, 'm').reports] == ['nested']


def test_mime_with_too_many_parts_is_malformed():
    parts = b''.join(b'--b\r\nContent-Type: text/plain\r\n\r\nx\r\n' for _index in range(T.MAX_MIME_PARTS + 1))
    mail = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts + b'--b--\r\n'
    assert 'more than %d MIME parts' % T.MAX_MIME_PARTS in T.read_message(mail, 'm').malformed[0]['reason']


def test_boundary_lookalikes_and_digest_defaults():
    attachment = report_mail(good('digest'), multipart=False)
    mail = (b'Content-Type: multipart/digest; boundary="d"\n\n--d-not-a-delimiter\npreamble\n--d\n\n' + attachment
            + b'\n--d--\nepilogue\n')
    assert [report.report_id for report in T.read_message(mail, 'm').reports] == ['digest']


# ---------------------------------------------------------------------------------------------------------------
# Directory walks: each directory once, bounded


def test_directory_with_two_links_to_itself_reads_each_file_once(tmp_path):
    root = str(tmp_path / 'reports')
    write(os.path.join(root, 'a.json'), json.dumps(good('a')).encode('ascii'))
    write(os.path.join(root, 'sub', 'b.json'), json.dumps(good('b')).encode('ascii'))
    os.symlink(root, os.path.join(root, 'self1'))
    os.symlink(root, os.path.join(root, 'self2'))
    os.symlink('..', os.path.join(root, 'sub', 'up'))
    os.symlink(os.path.join(root, 'a.json'), os.path.join(root, 'sub', 'a-again.json'))
    started = time.monotonic()
    found = T.load_reports([root, os.path.join(root, 'self1')])
    elapsed = time.monotonic() - started
    print('two self-links: %.3f s, %d sources' % (elapsed, found.sources_read))
    assert sorted(report.report_id for report in found.reports) == ['a', 'b']
    assert found.sources_read == 2 and found.incomplete == [] and found.malformed == []
    assert elapsed < 2


def test_fifo_and_dangling_link_are_skipped(tmp_path):
    root = str(tmp_path)
    os.mkfifo(os.path.join(root, 'pipe.json'))
    os.symlink('/nonexistent/x.json', os.path.join(root, 'dangling.json'))
    write(os.path.join(root, 'good.json'), json.dumps(good('g')).encode('ascii'))
    found = T.load_reports([root])
    assert [report.report_id for report in found.reports] == ['g']
    assert [os.path.basename(item['source']) for item in found.malformed] == ['dangling.json']
    assert found.incomplete == []


def test_directory_depth_is_bounded(tmp_path):
    path = str(tmp_path)
    for level in range(T.MAX_DIRECTORY_DEPTH + 2):
        path = os.path.join(path, 'd%d' % level)
    write(os.path.join(path, 'deep.json'), json.dumps(good('deep')).encode('ascii'))
    write(str(tmp_path / 'top.json'), json.dumps(good('top')).encode('ascii'))
    found = T.load_reports([str(tmp_path)])
    assert [report.report_id for report in found.reports] == ['top']
    assert 'deeper than %d directory levels' % T.MAX_DIRECTORY_DEPTH in found.incomplete[0]['reason']


def test_budget_of_sources_stops_the_walk_and_says_where(tmp_path):
    for index in range(5):
        write(str(tmp_path / ('%d.json' % index)), json.dumps(good('r%d' % index)).encode('ascii'))
    found = T.load_reports([str(tmp_path)], T.ReadBudget(max_sources=3))
    assert [report.report_id for report in found.reports] == ['r0', 'r1', 'r2']
    assert found.incomplete == [{'source': str(tmp_path / '3.json'),
                                 'reason': 'stopped after 3 report files and mails (max_sources); the files from here on were not read'}]


def test_budget_of_bytes_and_of_time(tmp_path):
    write(str(tmp_path / 'a.json'), json.dumps(good('a')).encode('ascii'))
    write(str(tmp_path / 'b.json'), json.dumps(good('b')).encode('ascii'))
    found = T.load_reports([str(tmp_path)], T.ReadBudget(max_bytes=10))
    assert 'max_bytes' in found.incomplete[0]['reason']
    ticks = iter(range(1000))
    found = T.load_reports([str(tmp_path)], T.ReadBudget(max_seconds=2.5, clock=lambda: next(ticks)))
    assert 'max_seconds' in found.incomplete[0]['reason']


def test_summary_holds_incomplete_against_every_domain():
    report = T.parse_report(good('a'))
    summary = T.summarize_reports([report], incomplete=[{'source': 'x', 'reason': 'stopped'}])
    assert summary['incomplete'] == [{'source': 'x', 'reason': 'stopped'}]
    assert summary['domains']['good.example']['reasons'] == ['tlsrpt-incomplete']
    assert summary['domains']['good.example']['ready'] is False
    assert T.summarize_reports([report])['domains']['good.example']['ready'] is True


# ---------------------------------------------------------------------------------------------------------------
# mbox: one mail at a time


def test_mbox_with_a_huge_mail_between_good_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(T, 'MAX_MESSAGE_BYTES', 64 * 1024)
    path = str(tmp_path / 'box.mbox')
    with open(path, 'wb') as handle:
        handle.write(b'From a@b Thu Jan  1 00:00:00 2024\n' + report_mail(good('first')) + b'\n')
        handle.write(b'From a@b Thu Jan  1 00:00:00 2024\nSubject: huge\n\n' + b'x' * (1024 * 1024) + b'\n')  # one long line
        handle.write(b'From a@b Thu Jan  1 00:00:00 2024\n' + report_mail(good('last')) + b'\n')
    found = T.load_reports([path])
    assert [report.report_id for report in found.reports] == ['first', 'last']
    assert found.malformed == [{'source': path + '[2]', 'message_id': None, 'reason': 'larger than 65536 bytes', 'domains': []}]
    assert found.sources_read == 3
