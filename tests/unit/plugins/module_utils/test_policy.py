# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""RFC 8461 section 3.2 (policy syntax) and section 4.1 (MX matching), rule by rule."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import assume, given, settings, strategies as st

from ansible_collections.mailsec.mta_sts.plugins.module_utils.policy import (
    MAX_MAX_AGE, PolicyError, is_valid_mx_pattern, matching_pattern, mx_pattern_matches, parse_policy,
    policy_id, render_policy)

GOOD = 'version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\n'


def codes(text):
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    return [code for code, _message in caught.value.problems]


def test_policy_valid_lf():
    assert parse_policy(GOOD) == {'version': 'STSv1', 'mode': 'enforce', 'max_age': 604800,
                                  'mx': ['mail.example.com', '*.example.net'], 'extensions': {}}


def test_policy_valid_crlf():
    assert parse_policy(GOOD.replace('\n', '\r\n'))['mode'] == 'enforce'


def test_policy_fields_in_any_order():
    assert parse_policy('max_age: 86400\nmx: a.example\nmode: testing\nversion: STSv1')['max_age'] == 86400


def test_policy_unknown_fields_are_ignored_and_kept():
    assert parse_policy(GOOD + 'x-note: hello world\n')['extensions'] == {'x-note': 'hello world'}


def test_policy_whitespace_after_colon_is_optional():
    assert parse_policy('version:STSv1\nmode:\ttesting\nmx:a.example\nmax_age:86400')['mode'] == 'testing'


def test_policy_bytes_must_be_utf8():
    assert codes(b'version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n\xff') == ['policy-encoding']


def test_policy_version_must_be_stsv1():
    assert 'policy-version-invalid' in codes(GOOD.replace('STSv1', 'STSv2'))
    assert 'policy-version-invalid' in codes(GOOD.replace('version: STSv1\n', ''))


@pytest.mark.parametrize('mode', ['Enforce', 'ENFORCE', 'enforcing', '', 'test'])
def test_policy_mode_is_exact(mode):
    assert 'policy-mode-invalid' in codes(GOOD.replace('mode: enforce', 'mode: %s' % mode)) or \
        'policy-syntax' in codes(GOOD.replace('mode: enforce', 'mode: %s' % mode))


def test_policy_mode_none_needs_no_mx():
    assert parse_policy('version: STSv1\nmode: none\nmax_age: 86400\n')['mx'] == []


@pytest.mark.parametrize('mode', ['enforce', 'testing'])
def test_policy_testing_and_enforce_need_an_mx(mode):
    assert codes('version: STSv1\nmode: %s\nmax_age: 86400\n' % mode) == ['policy-mx-missing']


@pytest.mark.parametrize('value', ['-1', '1.5', '+5', '1e5', '0x10', str(MAX_MAX_AGE + 1), '12345678901', ''])
def test_policy_max_age_is_digits_up_to_a_year(value):
    found = codes(GOOD.replace('max_age: 604800', 'max_age: %s' % value))
    assert 'policy-max-age-invalid' in found or 'policy-syntax' in found


@pytest.mark.parametrize('value', ['0', str(MAX_MAX_AGE), '0000086400'])
def test_policy_max_age_bounds_are_valid(value):
    assert parse_policy(GOOD.replace('max_age: 604800', 'max_age: %s' % value))['max_age'] == int(value)


def test_policy_duplicate_single_fields():
    assert codes(GOOD + 'mode: testing\n') == ['policy-field-duplicate']


@pytest.mark.parametrize('pattern', ['*', '*.', 'a_b.example', '*.*.example', 'example', 'a..b', '-a.example',
                                     'mail.example.com.', 'foo.*.example'])
def test_policy_invalid_mx_patterns(pattern):
    assert 'policy-mx-invalid' in codes(GOOD.replace('mx: mail.example.com', 'mx: %s' % pattern))


def test_policy_line_without_colon_is_a_syntax_error():
    assert codes(GOOD + 'garbage\n') == ['policy-syntax']


def test_policy_leading_whitespace_is_a_syntax_error():
    assert codes(GOOD.replace('mode: enforce', ' mode: enforce')) == ['policy-syntax', 'policy-mode-invalid']


def test_policy_nul_byte_is_a_syntax_error():
    assert 'policy-syntax' in codes(GOOD + 'x: a\x00b\n')


def test_policy_empty_text_lists_every_missing_field():
    assert codes('') == ['policy-version-invalid', 'policy-mode-invalid', 'policy-max-age-invalid']


def test_policy_error_message_names_every_problem():
    with pytest.raises(PolicyError) as caught:
        parse_policy('version: STSv2\nmode: x\nmax_age: 1\n')
    assert 'STSv2' in str(caught.value) and "'x'" in str(caught.value)
    assert caught.value.code == 'policy-version-invalid'


def test_mx_wildcard_matches_exactly_one_label():
    assert mx_pattern_matches('*.example.net', 'mx1.example.net')
    assert not mx_pattern_matches('*.example.net', 'a.mx1.example.net')
    assert not mx_pattern_matches('*.example.net', 'example.net')
    assert not mx_pattern_matches('*.example.net', 'mx1.example.net.evil')


def test_mx_match_is_case_insensitive_and_ignores_trailing_dot():
    assert mx_pattern_matches('MAIL.Example.COM', 'mail.example.com.')


def test_mx_exact_pattern_does_not_match_subdomain():
    assert not mx_pattern_matches('example.com', 'mail.example.com')


def test_matching_pattern_returns_the_first_cover():
    assert matching_pattern(['a.example', '*.example'], 'b.example') == '*.example'
    assert matching_pattern(['a.example'], 'b.example') is None


def test_render_is_canonical_and_parses():
    text = render_policy('enforce', ['MX2.example.org.', 'mx1.example.org', 'mx1.example.org'], 604800)
    assert text == 'version: STSv1\nmode: enforce\nmx: mx1.example.org\nmx: mx2.example.org\nmax_age: 604800\n'


def test_render_refuses_what_the_audit_rejects():
    with pytest.raises(PolicyError):
        render_policy('enforce', [], 604800)
    with pytest.raises(PolicyError):
        render_policy('sometimes', ['a.example'], 604800)


def test_policy_id_changes_exactly_with_content():
    assert policy_id(GOOD) == policy_id(GOOD)
    assert policy_id(GOOD) != policy_id(GOOD + '\n')
    assert policy_id(GOOD).isalnum() and len(policy_id(GOOD)) <= 32


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_policy_parser_raises_only_policy_error(text):
    try:
        parse_policy(text)
    except PolicyError as exc:
        assert exc.problems and all(code.startswith('policy-') for code, _m in exc.problems)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_policy_parser_on_bytes_raises_only_policy_error(data):
    try:
        parse_policy(data)
    except PolicyError:
        pass


LABEL = st.from_regex(r'\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\Z')
HOST = st.lists(LABEL, min_size=2, max_size=4).map('.'.join)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(['enforce', 'testing', 'none']),
       st.lists(st.one_of(HOST, HOST.map(lambda h: '*.' + h)), min_size=1, max_size=5),
       st.integers(min_value=0, max_value=MAX_MAX_AGE))
def test_render_parses_back_to_the_same_fields(mode, mx, max_age):
    parsed = parse_policy(render_policy(mode, mx, max_age))
    assert (parsed['mode'], parsed['max_age'], sorted(parsed['mx'])) == (mode, max_age, sorted(set(mx)))


def reference_match(pattern, host):
    """RFC 8461 section 4.1 read plainly: a wildcard stands for one whole leftmost label."""
    pattern_labels = pattern.lower().split('.')
    host_labels = host.lower().split('.')
    if len(pattern_labels) != len(host_labels):
        return False
    if pattern_labels[0] == '*':
        return host_labels[1:] == pattern_labels[1:] and host_labels[0] != ''
    return pattern_labels == host_labels


@settings(max_examples=1000, deadline=None)
@given(HOST, st.one_of(HOST, HOST.map(lambda h: '*.' + h)), st.booleans())
def test_mx_matching_agrees_with_reference(host, pattern, related):
    if related and pattern.startswith('*.'):
        host = host.split('.')[0] + '.' + pattern[2:]
    assume(is_valid_mx_pattern(pattern))
    assert mx_pattern_matches(pattern, host) == reference_match(pattern, host)
