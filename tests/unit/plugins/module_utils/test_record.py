# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RFC 8461 section 3.1 (the _mta-sts TXT record) and RFC 8460 section 3 (TLS-RPT), rule by rule."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.mailsec.mta_sts.plugins.module_utils.record import (
    RecordError, ignored_records, is_sts_candidate, is_tlsrpt_candidate, join_txt_strings, parse_sts_record,
    parse_tlsrpt_record, render_sts_record)


def test_record_minimal_is_valid():
    assert parse_sts_record('v=STSv1; id=20160831085700Z;') == {
        'version': 'STSv1', 'id': '20160831085700Z', 'extensions': {}, 'warnings': []}


def test_record_trailing_delimiter_is_optional():
    assert parse_sts_record('v=STSv1;id=abc')['id'] == 'abc'


def test_record_whitespace_around_delimiters_is_allowed():
    assert parse_sts_record('v=STSv1;\tid=abc ; ')['id'] == 'abc'
    assert parse_sts_record('v=STSv1; \t id=20160831085700Z  \t;')['id'] == '20160831085700Z'


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


def test_record_duplicated_id_first_counts_with_a_warning():
    # RFC 8461 section 3.2: repeated fields but mx count once, the first; mox reads the TXT record so too.
    parsed = parse_sts_record('v=STSv1; id=first; id=second;')
    assert parsed['id'] == 'first'
    assert [warning['code'] for warning in parsed['warnings']] == ['txt-field-duplicate']
    assert 'second' in parsed['warnings'][0]['message'] and 'first' in parsed['warnings'][0]['message']


def test_record_duplicated_version_is_ignored_with_a_warning():
    parsed = parse_sts_record('v=STSv1; v=STSv1; id=abc')
    assert parsed['id'] == 'abc' and parsed['warnings'][0]['code'] == 'txt-field-duplicate'


def test_record_invalid_second_id_is_still_invalid():
    with pytest.raises(RecordError):
        parse_sts_record('v=STSv1; id=good; id=not-good;')


def test_record_version_is_case_sensitive():
    assert not is_sts_candidate('v=stsv1; id=abc;')
    with pytest.raises(RecordError):
        parse_sts_record('V=STSv1; id=abc;')


def test_record_candidate_needs_the_version_as_a_whole_token():
    assert is_sts_candidate('v=STSv1; id=1')
    assert not is_sts_candidate('v=STSv1')
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
                                  'rua=mailto:a@b.c; v=TLSRPTv1', 'v=TLSRPTv1; rua=mailto:a@b; rua=mailto:c d'])
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


# --- issue 11: candidates, grammar and repeats as senders read them -----------------------------------

@pytest.mark.parametrize('text', ['v=STSv1', 'v=STSv1 ; id=1', 'v=STSv1\t;id=1', 'v=STSv10; id=1', 'v=STSv1.1; id=a',
                                  'v=STSv1-x; id=a', ' v=STSv1; id=1', 'V=STSv1; id=1', 'id=a; v=STSv1',
                                  'v = STSv1; id=1', 'v=STSv1 id=abc', ''])
def test_record_candidate_begins_with_exactly_the_version_and_a_semicolon(text):
    """RFC 8461 section 3.1: records that do not begin with "v=STSv1;" are discarded."""
    assert not is_sts_candidate(text)
    with pytest.raises(RecordError) as caught:
        parse_sts_record(text)
    assert caught.value.code == 'txt-invalid' and 'discard' in str(caught.value)


@pytest.mark.parametrize('text', ['v=STSv1;id=1', 'v=STSv1; id=1', 'v=STSv1;', 'v=STSv1;;'])
def test_record_candidate_with_the_exact_prefix_counts(text):
    assert is_sts_candidate(text)


def test_record_near_miss_says_what_to_write():
    with pytest.raises(RecordError) as caught:
        parse_sts_record('v=STSv1 ; id=abc;')
    assert 'write "v=STSv1; id=abc;"' in str(caught.value)


def test_ignored_records_gives_one_reason_per_discarded_record():
    reasons = ignored_records(['v=STSv1; id=a', 'v=spf1 -all', 'v=STSv1 ;id=b', 'v=STSv1'])
    assert len(reasons) == 3
    assert 'space or tab before the first ";"' in reasons[1] and 'no ";"' in reasons[2]


@pytest.mark.parametrize('text', ['v=STSv1; id=a ', 'v=STSv1; id=a\t', 'v=STSv1; id=a;;', 'v=STSv1; id=',
                                  'v=STSv1; id=012345678901234567890123456789012', 'v=STSv1; id=test-123',
                                  'v=STSv1; id=a; more=', 'v=STSv1; id=a; a12345678901234567890123456789012=1',
                                  'v=STSv1; id=a; 1%=a', 'v=STSv1; id=a; test==', 'v=STSv1; ext=1'])
def test_record_outside_the_abnf_is_invalid(text):
    with pytest.raises(RecordError) as caught:
        parse_sts_record(text)
    assert caught.value.code == 'txt-invalid'
    assert "'" not in str(caught.value)  # words and double quotes, no Python repr


def test_record_extensions_keep_their_order_and_first_value():
    parsed = parse_sts_record('v=STSv1; id=a; more=a; ext=2; more=b')
    assert parsed['extensions'] == {'more': 'a', 'ext': '2'}
    assert [warning['code'] for warning in parsed['warnings']] == ['txt-field-duplicate']


@pytest.mark.parametrize('text', ['v=TLSRPTv1', 'v=TLSRPTv1 ; rua=mailto:a@b.c', ' v=TLSRPTv1; rua=mailto:a@b.c',
                                  'v=TLSRPTv10; rua=mailto:a@b.c', 'v=tlsrptv1; rua=mailto:a@b.c'])
def test_tlsrpt_candidate_begins_with_exactly_the_version_and_a_semicolon(text):
    """RFC 8460 section 3: records that do not begin with "v=TLSRPTv1;" are discarded."""
    assert not is_tlsrpt_candidate(text)
    with pytest.raises(RecordError) as caught:
        parse_tlsrpt_record(text)
    assert caught.value.code == 'tlsrpt-invalid'


def test_tlsrpt_repeated_rua_fields_all_count():
    """RFC 8460 section 3 ABNF: 1*(field-delim tlsrpt-field) lets rua appear more than once."""
    parsed = parse_tlsrpt_record('v=TLSRPTv1; rua=mailto:a@example.org; rua=https://r.example.org/x,mailto:a@example.org')
    assert parsed['rua'] == ['mailto:a@example.org', 'https://r.example.org/x']


def test_tlsrpt_repeated_version_is_an_extension():
    assert parse_tlsrpt_record('v=TLSRPTv1; v=TLSRPTv1; rua=mailto:a@example.org')['rua'] == ['mailto:a@example.org']


def test_tlsrpt_uris_may_have_spaces_around_commas():
    parsed = parse_tlsrpt_record('v=TLSRPTv1;rua=mailto:a@example.org , \thttps://r.example.org/x;')
    assert parsed['rua'] == ['mailto:a@example.org', 'https://r.example.org/x']


def test_tlsrpt_extension_names_and_values_follow_the_abnf():
    parsed = parse_tlsrpt_record('v=TLSRPTv1; rua=mailto:a@example.org; x-ext.1_a=val:ue/(1); 9=0')
    assert parsed['extensions'] == {'x-ext.1_a': 'val:ue/(1)', '9': '0'}


@pytest.mark.parametrize('text', [
    'v=TLSRPTv1; rua=mailto:a@example.org; _x=1', 'v=TLSRPTv1; rua=mailto:a@example.org; x=',
    'v=TLSRPTv1; rua=mailto:a@example.org; x=a=b', 'v=TLSRPTv1; rua=mailto:a@example.org; x=a b',
    'v=TLSRPTv1; rua=mailto:a@example.org; %s=1' % ('a' * 33), 'v=TLSRPTv1; rua=mailto:a@example.org; x=\u00e9',
    'v=TLSRPTv1; rua=mailto:a!b@example.org', 'v=TLSRPTv1; rua=mailto:a@example.org,',
    'v=TLSRPTv1; rua=mailto:a b@example.org', 'v=TLSRPTv1; rua=mailto:\u00e9@example.org',
    'v=TLSRPTv1; rua=mailto:nobody', 'v=TLSRPTv1; rua=https://', 'v=TLSRPTv1; rua=http://r.example.org/',
    'v=TLSRPTv1; rua=', 'v=TLSRPTv1; rua=mailto:a@example.org ', 'v=TLSRPTv1; rua=mailto:a@example.org;;',
    'v=TLSRPTv1; x=1',
])
def test_tlsrpt_record_outside_the_abnf_is_invalid(text):
    with pytest.raises(RecordError) as caught:
        parse_tlsrpt_record(text)
    assert caught.value.code == 'tlsrpt-invalid'
    assert "'" not in str(caught.value)


def test_tlsrpt_percent_encoded_exclamation_mark_is_valid():
    assert parse_tlsrpt_record('v=TLSRPTv1; rua=mailto:a%21b@example.org')['rua'] == ['mailto:a%21b@example.org']
