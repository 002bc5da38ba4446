# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RFC 8461 section 3.2 (policy syntax) and section 4.1 (MX matching), rule by rule."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import assume, given, settings, strategies as st

from ansible_collections.mailsec.mta_sts.plugins.module_utils.policy import (
    MAX_MAX_AGE, PolicyError, check_policy, is_valid_mx_pattern, matching_pattern, mx_pattern_matches,
    parse_policy, pattern_matcher, policy_id, render_policy)

GOOD = 'version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\n'


def codes(text):
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    return [code for code, _message in caught.value.problems]


def test_policy_valid_lf():
    assert parse_policy(GOOD) == {'version': 'STSv1', 'mode': 'enforce', 'max_age': 604800,
                                  'mx': ['mail.example.com', '*.example.net'], 'extensions': {}, 'warnings': []}


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


def test_policy_duplicate_single_field_is_a_warning_not_a_failure():
    parsed, problems = check_policy(GOOD + 'mode: testing\n')
    assert parsed['mode'] == 'enforce'
    assert [code for code, _message in problems] == ['policy-field-duplicate']
    assert parsed['warnings'] == [{'code': 'policy-field-duplicate', 'message': problems[0][1]}]


@pytest.mark.parametrize('pattern', ['*', '*.', 'a_b.example', '*.*.example', 'example', 'a..b', '-a.example',
                                     'mail.example.com.', 'foo.*.example', '**.example', '**.example-',
                                     'test.example-', 'mx*.example.com', '*example.com', '.example.com'])
def test_policy_invalid_mx_patterns(pattern):
    assert 'policy-mx-invalid' in codes(GOOD.replace('mx: mail.example.com', 'mx: %s' % pattern))


def test_policy_line_without_colon_is_a_syntax_error():
    assert codes(GOOD + 'garbage\n') == ['policy-syntax']


def test_policy_leading_whitespace_is_a_syntax_error():
    assert codes(GOOD.replace('mode: enforce', ' mode: enforce')) == ['policy-syntax', 'policy-mode-invalid']


def test_policy_nul_byte_is_a_syntax_error():
    assert 'policy-syntax' in codes(GOOD + 'x: a\x00b\n')


@pytest.mark.parametrize('text', ['', '\n', '\r\n', ' \t\n\n'])
def test_policy_empty_text_says_it_is_empty(text):
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    assert caught.value.problems == [('policy-syntax', 'the policy is empty; write version, mode, mx and max_age lines')]


def test_policy_missing_fields_are_each_named():
    assert codes('x-note: only this\n') == ['policy-version-invalid', 'policy-mode-invalid', 'policy-max-age-invalid']


def test_policy_error_message_names_every_problem():
    with pytest.raises(PolicyError) as caught:
        parse_policy('version: STSv2\nmode: x\nmax_age: 1\n')
    assert 'STSv2' in str(caught.value) and '"x"' in str(caught.value)
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


# --- issue 11: rules as strict senders apply them -------------------------------------------------------

def messages(text):
    _parsed, problems = check_policy(text)
    return [message for _code, message in problems]


@pytest.mark.parametrize('text, mode', [
    ('version: STSv1\nmode: none\nmode: enforce\nmx: a.example\nmax_age: 86400\n', 'none'),
    ('version: STSv1\nmode: testing\nmx: a.example\nmax_age: 86400\nmode: enforce\nmode: none\n', 'testing'),
])
def test_policy_duplicate_field_first_value_counts(text, mode):
    """RFC 8461 section 3.2: all entries of a repeated field (but mx) except the first SHALL be ignored."""
    parsed, problems = check_policy(text)
    assert parsed['mode'] == mode
    assert [code for code, _message in problems] == ['policy-field-duplicate']


def test_policy_duplicate_max_age_and_version_first_value_counts():
    parsed = parse_policy('version: STSv1\nmax_age: 100\nmode: none\nmax_age: 604800\nversion: STSv1\n')
    assert parsed['max_age'] == 100
    assert sorted(warning['message'].split()[0] for warning in parsed['warnings']) == ['max_age', 'version']


def test_policy_duplicate_warning_names_the_ignored_lines():
    [message] = messages(GOOD + 'mode: testing\n')
    assert 'line 2' in message and 'line 6' in message and '"testing"' in message and 'first' in message


def test_policy_duplicate_with_an_invalid_value_fails():
    """mox rejects the policy when a repeat does not parse, so the audit fails it as well."""
    assert codes(GOOD + 'mode: strict\n') == ['policy-mode-invalid', 'policy-field-duplicate']
    assert codes(GOOD + 'max_age: soon\n') == ['policy-max-age-invalid', 'policy-field-duplicate']


def test_policy_duplicate_invalid_first_value_is_the_failure():
    found = codes('version: STSv1\nmode: strict\nmode: enforce\nmx: a.example\nmax_age: 86400\n')
    assert found == ['policy-mode-invalid', 'policy-field-duplicate']


def test_policy_duplicate_extension_first_value_counts():
    assert parse_policy(GOOD + 'x-a: one\nx-a: two\n')['extensions'] == {'x-a': 'one'}


def test_policy_repeated_mx_is_not_a_duplicate():
    assert parse_policy(GOOD + 'mx: mail.example.com\n')['warnings'] == []


@pytest.mark.parametrize('text, lines', [
    ('version: STSv1\n\nmode: enforce\nmx: a.example\nmax_age: 86400\n', 'line 2'),
    ('\nversion: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400', 'line 1'),
    ('version: STSv1\n \nmode: enforce\n\t\nmx: a.example\nmax_age: 86400\n', 'lines 2, 4'),
    ('version: STSv1\r\n\r\nmode: enforce\r\nmx: a.example\r\nmax_age: 86400\r\n', 'line 2'),
    ('version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n\n', 'line 5 at the end'),
    ('version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\r\n\r\n\r\n', 'lines 5-6 at the end'),
    ('version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n  ', 'line 5 at the end'),
    ('version: STSv1\n\n\nmode: enforce\nmx: a.example\nmax_age: 86400\n\n', 'lines 2-3 and line 7 at the end'),
])
def test_policy_blank_line_fails_and_names_the_lines(text, lines):
    """RFC 8461 section 3.2 ABNF: no empty or whitespace-only line, at most one final line ending."""
    parsed, problems = check_policy(text)
    assert parsed is None
    assert [code for code, _message in problems] == ['policy-blank-line']
    assert ('remove %s' % lines) in problems[0][1]


@pytest.mark.parametrize('end', ['', '\n', '\r\n'])
def test_policy_one_final_line_ending_is_allowed(end):
    assert parse_policy('version: STSv1\nmode: none\nmax_age: 86400' + end)['mode'] == 'none'


def test_policy_lf_and_crlf_may_mix():
    """sts-policy-term = LF / CRLF, chosen per line."""
    assert parse_policy('version: STSv1\r\nmode: testing\nmx: a.example\r\nmax_age: 86400\n')['mode'] == 'testing'


@pytest.mark.parametrize('text', ['version: STSv1\rmode: none\rmax_age: 86400\r',
                                  'version: STSv1\nmode: none\r\r\nmax_age: 86400\n'])
def test_policy_lone_cr_is_not_a_line_ending(text):
    assert 'carriage return' in ' '.join(messages(text))
    assert 'policy-syntax' in codes(text)


def test_policy_space_before_colon_is_a_syntax_error():
    """sts-policy-field-delim = ":" *WSP: nothing between the field name and the colon."""
    assert codes(GOOD.replace('mode: enforce', 'mode : enforce')) == ['policy-syntax', 'policy-mode-invalid']


def test_policy_whitespace_after_the_value_is_allowed():
    """Each field may be followed by *WSP before its line ending (mox accepts "mode: enforce\\t")."""
    parsed = parse_policy('version: STSv1 \nmode: enforce\t\nmx: *.example.com \nmax_age: 0 \n')
    assert (parsed['mode'], parsed['mx'], parsed['max_age']) == ('enforce', ['*.example.com'], 0)


def test_policy_extension_value_keeps_inner_spaces():
    assert parse_policy(GOOD + 'more:ext e  ns ion\n')['extensions'] == {'more': 'ext e  ns ion'}


@pytest.mark.parametrize('line', ['ext:', 'a12345678901234567890123456789012:123', '_bad:test', '-x: y',
                                  'x y: z', 'x: a\x01b', 'ü: x'])
def test_policy_extension_name_and_value_follow_the_abnf(line):
    assert codes(GOOD + line + '\n') == ['policy-syntax']


@pytest.mark.parametrize('version', ['STSv0', 'STSv10', 'STSv2', 'stsv1', 'STSv1.0'])
def test_policy_version_is_exactly_stsv1(version):
    assert codes(GOOD.replace('version: STSv1', 'version: %s' % version)) == ['policy-version-invalid']


def test_policy_max_age_of_eleven_digits_is_invalid():
    assert codes(GOOD.replace('max_age: 604800', 'max_age: 01234567890')) == ['policy-max-age-invalid']


def test_policy_byte_order_mark_is_named():
    [message, _missing] = messages('\ufeff' + GOOD)
    assert 'byte order mark' in message


def test_policy_encoding_message_names_the_byte_and_offset():
    [message] = messages(b'version: STSv1\n\xc3\x28')
    assert '0xc3' in message and 'offset 15' in message and "'utf-8'" not in message


@pytest.mark.parametrize('pattern, a_label', [('mx.bücher.example', 'mx.xn--bcher-kva.example'),
                                              ('*.BÜCHER.example', '*.xn--bcher-kva.example'),
                                              ('møx.example', 'xn--mx-lka.example')])
def test_policy_mx_u_label_is_invalid_and_names_the_a_label(pattern, a_label):
    """RFC 8461 section 3.2: the mx value MUST be the A-label, not the U-label."""
    text = GOOD.replace('mx: mail.example.com', 'mx: %s' % pattern)
    assert codes(text) == ['policy-mx-invalid']
    assert ('write "%s"' % a_label) in messages(text)[0]


HOSTILE_POLICIES = [
    GOOD + 'garbage\x00\n', GOOD.replace('mode: enforce', " mode: 'enforce'"), GOOD + 'x:\x7f\n',
    GOOD.replace('max_age: 604800', 'max_age: -1'), GOOD.replace('mx: mail.example.com', 'mx: b\\u00fc.example'),
    GOOD + '\n\n', b'\xff\xfe', 'version: STSv2\r\r\n', GOOD + 'mode: \x1b[31m\n',
]


@pytest.mark.parametrize('text', HOSTILE_POLICIES)
def test_policy_messages_are_words_without_python_reprs(text):
    for message in messages(text):
        assert "b'" not in message and "\\x" not in message and "(_" not in message, message
        assert not any(0 < ord(char) < 32 for char in message), message


@pytest.mark.parametrize('pattern, host', [
    ('*.bücher.example', 'mx.xn--bcher-kva.example'),
    ('*.xn--bcher-kva.example', 'MX.BÜCHER.example.'),
    ('mx.xn--fa-hia.de', 'mx.faß.de'),
])
def test_mx_matching_converts_u_labels_to_a_labels(pattern, host):
    """RFC 8461 section 4.1 with RFC 6125 section 6.4.2: compare A-labels, U-labels converted first."""
    assert mx_pattern_matches(pattern, host)
    assert matching_pattern([pattern], host) == pattern
    assert pattern_matcher([pattern])(host) == pattern


def test_mx_matching_uses_idna2008_not_idna2003():
    """IDNA2003 (Python's built-in codec) maps ß to ss; IDNA2008 keeps it: faß.de is not fass.de."""
    assert not mx_pattern_matches('mx.fass.de', 'mx.faß.de')
    assert not pattern_matcher(['mx.fass.de'])('mx.faß.de')


def test_render_converts_u_labels_to_a_labels():
    text = render_policy('enforce', ['*.Bücher.example.', 'mx.BÜCHER.example'], 86400)
    assert 'mx: *.xn--bcher-kva.example\nmx: mx.xn--bcher-kva.example\n' in text
    assert parse_policy(text)['mx'] == ['*.xn--bcher-kva.example', 'mx.xn--bcher-kva.example']


@pytest.mark.parametrize('mx', [['a.example'], ['*.a.example', 'b.example', 'B.example.']])
def test_render_ends_in_exactly_one_line_ending(mx):
    text = render_policy('testing', mx, 604800)
    assert text.endswith('\n') and not text.endswith('\n\n') and '\n\n' not in text
    assert check_policy(text)[1] == []
