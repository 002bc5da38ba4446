# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""RFC 8461 section 3.1 (the _mta-sts TXT record) and RFC 8460 section 3 (TLS-RPT), rule by rule."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.mailsec.mta_sts.plugins.module_utils.record import (
    RecordError, is_sts_candidate, join_txt_strings, parse_sts_record, parse_tlsrpt_record, render_sts_record)


def test_record_minimal_is_valid():
    assert parse_sts_record('v=STSv1; id=20160831085700Z;') == {
        'version': 'STSv1', 'id': '20160831085700Z', 'extensions': {}}


def test_record_trailing_delimiter_is_optional():
    assert parse_sts_record('v=STSv1;id=abc')['id'] == 'abc'


def test_record_whitespace_around_delimiters_is_allowed():
    assert parse_sts_record('v=STSv1 ;\tid=abc ; ')['id'] == 'abc'


def test_record_extension_fields_are_kept():
    assert parse_sts_record('v=STSv1; id=abc; ext-1.x=value;')['extensions'] == {'ext-1.x': 'value'}


@pytest.mark.parametrize('record_id', ['a' * 33, '', 'ab-c', 'ab_c', 'a.b', 'é'])
def test_record_id_is_1_to_32_letters_or_digits(record_id):
    with pytest.raises(RecordError) as caught:
        parse_sts_record('v=STSv1; id=%s;' % record_id)
    assert caught.value.code == 'txt-invalid'


def test_record_id_of_32_characters_is_valid():
    assert parse_sts_record('v=STSv1; id=%s' % ('A1' * 16))['id'] == 'A1' * 16


def test_record_without_id_is_invalid():
    with pytest.raises(RecordError):
        parse_sts_record('v=STSv1; foo=bar;')


def test_record_with_two_ids_is_invalid():
    with pytest.raises(RecordError):
        parse_sts_record('v=STSv1; id=a; id=b;')


def test_record_version_is_case_sensitive():
    assert not is_sts_candidate('v=stsv1; id=abc;')
    with pytest.raises(RecordError):
        parse_sts_record('V=STSv1; id=abc;')


def test_record_candidate_needs_the_version_as_a_whole_token():
    assert is_sts_candidate('v=STSv1; id=1')
    assert is_sts_candidate('v=STSv1')
    assert not is_sts_candidate('v=STSv10; id=1')
    assert not is_sts_candidate('v=spf1 -all')


def test_record_extension_value_must_not_contain_equals():
    with pytest.raises(RecordError):
        parse_sts_record('v=STSv1; id=abc; ext=a=b;')


def test_record_multi_string_records_are_joined_without_separator():
    assert join_txt_strings([b'v=STSv1; ', b'id=abc;']) == 'v=STSv1; id=abc;'


def test_record_render_round_trips():
    assert parse_sts_record(render_sts_record('abc123'))['id'] == 'abc123'


def test_record_render_rejects_bad_id():
    with pytest.raises(RecordError):
        render_sts_record('not valid')


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_record_parser_raises_only_record_error(text):
    try:
        parsed = parse_sts_record(text)
    except RecordError as exc:
        assert exc.code == 'txt-invalid'
    else:
        assert parsed['id'].isalnum()


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r'\Av=STSv1;[ \t]*id=[A-Za-z0-9]{1,32};?\Z'))
def test_record_parser_accepts_the_grammar(text):
    assert parse_sts_record(text)['version'] == 'STSv1'


def test_tlsrpt_mailto_and_https():
    parsed = parse_tlsrpt_record('v=TLSRPTv1; rua=mailto:tlsrpt@example.org,https://reports.example.org/tls')
    assert parsed['rua'] == ['mailto:tlsrpt@example.org', 'https://reports.example.org/tls']


@pytest.mark.parametrize('text', ['v=TLSRPTv1;', 'v=TLSRPTv1; rua=ftp://x', 'v=TLSRPTv2; rua=mailto:a@b.c',
                                  'rua=mailto:a@b.c; v=TLSRPTv1', 'v=TLSRPTv1; rua=mailto:a@b; rua=mailto:c@d'])
def test_tlsrpt_invalid_records(text):
    with pytest.raises(RecordError) as caught:
        parse_tlsrpt_record(text)
    assert caught.value.code == 'tlsrpt-invalid'


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_tlsrpt_parser_raises_only_record_error(text):
    try:
        parse_tlsrpt_record(text)
    except RecordError:
        pass
