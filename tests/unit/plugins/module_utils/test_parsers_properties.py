# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property tests the parser files do not have yet: grammar-generated records and policies parse to what
was generated, renderers round-trip, hostile structured input raises only the documented errors with
catalog codes, and domain normalization is idempotent.

(test_policy.py and test_record.py already cover: arbitrary text raises only the documented error,
render_policy parses back, MX matching agrees with a reference implementation of RFC 8461 section 4.1.)
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from hypothesis import given, settings, strategies as st

from ansible_collections.mailsec.mta_sts.plugins.module_utils.domain import DomainError, normalize_domain
from ansible_collections.mailsec.mta_sts.plugins.module_utils.findings import CATALOG
from ansible_collections.mailsec.mta_sts.plugins.module_utils.policy import (
    MAX_MAX_AGE, PolicyError, check_policy, mx_pattern_matches, parse_policy, pattern_matcher, render_policy)
from ansible_collections.mailsec.mta_sts.plugins.module_utils.record import (
    STS_PREFIX, TLSRPT_PREFIX, RecordError, is_sts_candidate, is_tlsrpt_candidate, join_txt_strings,
    parse_sts_record, parse_tlsrpt_record, render_sts_record)

RECORD_ID = st.from_regex(r'\A[A-Za-z0-9]{1,32}\Z')
EXT_NAME = st.from_regex(r'\A[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z').filter(lambda name: name not in ('id', 'v'))
EXT_VALUE = st.from_regex(r'\A[\x21-\x3a\x3c\x3e-\x7e]{1,40}\Z')
WSP = st.from_regex(r'\A[ \t]{0,3}\Z')
LABEL = st.from_regex(r'\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\Z')
HOST = st.lists(LABEL, min_size=2, max_size=4).map('.'.join)
PATTERN = st.one_of(HOST, HOST.map(lambda host: '*.' + host))
# What a hostile server puts in a line: separators, control characters, Unicode line breaks, long runs.
HOSTILE_PIECES = st.sampled_from([
    'version', 'mode', 'mx', 'max_age', 'v=STSv1', 'id=', ';', ':', '=', ' ', '\t', '\r', '\n', '\r\n', '\x00',
    '\x0b', '\x0c', '\x1c', '\x85', '\u2028', '\u2029', '\ufeff', '\ud7ff', '*.', '..', 'enforce', 'testing',
    'STSv1', '86400', '31557601', '-1', 'x' * 300, '\U0001f4e7', '{{ lookup("pipe", "id") }}',
])
HOSTILE_TEXT = st.lists(st.one_of(HOSTILE_PIECES, st.text(max_size=8)), max_size=60).map(''.join)


@settings(max_examples=100, deadline=None)
@given(RECORD_ID)
def test_record_render_parses_back_to_the_same_id(record_id):
    assert parse_sts_record(render_sts_record(record_id))['id'] == record_id


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_record_render_raises_only_record_error(record_id):
    try:
        text = render_sts_record(record_id)
    except RecordError:
        return
    assert parse_sts_record(text)['id'] == record_id


@settings(max_examples=100, deadline=None)
@given(RECORD_ID, st.dictionaries(EXT_NAME, EXT_VALUE, max_size=4), st.lists(WSP, min_size=12, max_size=12),
       st.booleans(), st.randoms(use_true_random=False))
def test_record_grammar_parses_to_what_was_generated(record_id, extensions, spaces, trailing, random):
    """RFC 8461 section 3.1: fields in any order after "v=STSv1;", optional whitespace around later ';'."""
    fields = ['id=%s' % record_id] + ['%s=%s' % item for item in extensions.items()]
    random.shuffle(fields)
    text = 'v=STSv1'
    for index, field in enumerate(fields):
        before = spaces[(2 * index) % 12] if index else ''  # the first ';' follows the version directly
        text += '%s;%s%s' % (before, spaces[(2 * index + 1) % 12], field)
    if trailing:
        text += spaces[11] + ';'
    assert parse_sts_record(text) == {'version': 'STSv1', 'id': record_id, 'extensions': extensions, 'warnings': []}


@settings(max_examples=100, deadline=None)
@given(RECORD_ID, st.from_regex(r'\A[ \t]{1,3}\Z'), st.sampled_from([STS_PREFIX, TLSRPT_PREFIX]))
def test_record_space_before_the_first_semicolon_is_never_a_candidate(record_id, space, prefix):
    """RFC 8461 section 3.1 / RFC 8460 section 3: senders discard records not beginning with the exact prefix."""
    text = prefix[:-1] + space + ';id=%s;rua=mailto:a@example.org' % record_id
    assert not is_sts_candidate(text) and not is_tlsrpt_candidate(text)
    parser = parse_sts_record if prefix == STS_PREFIX else parse_tlsrpt_record
    try:
        parser(text)
    except RecordError as exc:
        assert 'space or tab before the first ";"' in str(exc)
    else:
        raise AssertionError('parsed a record senders discard: %s' % text)


RUA_URI = st.one_of(
    st.from_regex(r'\Amailto:[a-z0-9.]{1,10}(%21)?@[a-z0-9]{1,10}\.example\Z'),
    st.from_regex(r'\Ahttps://[a-z0-9]{1,10}\.example(/[a-z0-9._~-]{0,10})?\Z'))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(RUA_URI, min_size=1, max_size=3), min_size=1, max_size=3),
       st.dictionaries(EXT_NAME.filter(lambda name: name != 'rua'), EXT_VALUE, max_size=3),
       st.lists(WSP, min_size=12, max_size=12), st.booleans(), st.randoms(use_true_random=False))
def test_tlsrpt_grammar_parses_to_what_was_generated(ruas, extensions, spaces, trailing, random):
    """RFC 8460 section 3 ABNF: rua (possibly repeated) and extensions in any order, spaces around ';' and ','."""
    fields = ['rua=' + (spaces[index % 12] + ',' + spaces[(index + 5) % 12]).join(uris)
              for index, uris in enumerate(ruas)]
    fields += ['%s=%s' % item for item in extensions.items()]
    random.shuffle(fields)
    text = 'v=TLSRPTv1'
    for index, field in enumerate(fields):
        text += '%s;%s%s' % (spaces[(2 * index) % 12] if index else '', spaces[(2 * index + 1) % 12], field)
    if trailing:
        text += spaces[11] + ';'
    parsed = parse_tlsrpt_record(text)
    assert sorted(parsed['rua']) == sorted(set(uri for uris in ruas for uri in uris))  # each URI once
    assert parsed['extensions'] == extensions


@settings(max_examples=100, deadline=None)
@given(RECORD_ID, st.lists(st.integers(min_value=0, max_value=40), max_size=4), st.booleans())
def test_record_split_into_strings_parses_like_the_whole(record_id, cuts, as_bytes):
    """A TXT record may come as several character-strings; joined, they are one record (section 3.1)."""
    text = 'v=STSv1; id=%s;' % record_id
    points = sorted(set(min(cut, len(text)) for cut in cuts))
    pieces = [text[start:end] for start, end in zip([0] + points, points + [len(text)])]
    if as_bytes:
        pieces = [piece.encode('ascii') for piece in pieces]
    assert parse_sts_record(join_txt_strings(pieces)) == parse_sts_record(text)


@settings(max_examples=200, deadline=None)
@given(HOSTILE_TEXT)
def test_record_parsers_on_hostile_text_raise_only_record_error_with_catalog_codes(text):
    for parser, prefix in ((parse_sts_record, 'txt-'), (parse_tlsrpt_record, 'tlsrpt-')):
        try:
            parser(text)
        except RecordError as exc:
            assert exc.code in CATALOG and exc.code.startswith(prefix)


@settings(max_examples=200, deadline=None)
@given(HOSTILE_TEXT)
def test_policy_parser_on_hostile_text_raises_only_policy_error_with_catalog_codes(text):
    for value in (text, text.encode('utf-8', 'surrogatepass')):
        try:
            parse_policy(value)
        except PolicyError as exc:
            assert exc.problems and all(code in CATALOG for code, _message in exc.problems)
            assert all(len(message) < 400 for _code, message in exc.problems)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(['enforce', 'testing', 'none']), st.lists(PATTERN, min_size=1, max_size=5, unique=True),
       st.integers(min_value=0, max_value=MAX_MAX_AGE), st.dictionaries(
           EXT_NAME.filter(lambda name: name not in ('version', 'mode', 'mx', 'max_age')), EXT_VALUE, max_size=3),
       st.sampled_from(['\n', '\r\n']), st.lists(WSP, min_size=12, max_size=12), st.randoms(use_true_random=False))
def test_policy_grammar_parses_to_what_was_generated(mode, mx, max_age, extensions, eol, spaces, random):
    """RFC 8461 section 3.2: fields in any order, LF or CRLF, optional whitespace after ':'."""
    lines = [('version', 'STSv1'), ('mode', mode), ('max_age', str(max_age))] + [('mx', p) for p in mx]
    lines += list(extensions.items())
    random.shuffle(lines)
    text = eol.join('%s:%s%s' % (key, spaces[index % 12], value) for index, (key, value) in enumerate(lines)) + eol
    parsed = parse_policy(text)
    assert (parsed['version'], parsed['mode'], parsed['max_age']) == ('STSv1', mode, max_age)
    assert sorted(parsed['mx']) == sorted(mx) and parsed['extensions'] == extensions


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(['enforce', 'testing', 'none']), st.lists(PATTERN, min_size=1, max_size=5),
       st.integers(min_value=0, max_value=MAX_MAX_AGE))
def test_policy_render_is_a_fixed_point(mode, mx, max_age):
    """Rendering what the parser read from a rendered policy gives the same text (one canonical form)."""
    text = render_policy(mode, mx, max_age)
    parsed = parse_policy(text)
    assert render_policy(parsed['mode'], parsed['mx'], parsed['max_age']) == text


@settings(max_examples=200, deadline=None)
@given(PATTERN, HOST, st.booleans(), st.booleans())
def test_mx_matching_ignores_case_and_trailing_dot(pattern, host, upper, dot):
    """RFC 8461 section 4.1 compares names case-insensitively; a trailing dot names the same host."""
    variant_host = (host.upper() if upper else host) + ('.' if dot else '')
    variant_pattern = (pattern.upper() if not upper else pattern) + ('.' if not dot else '')
    assert mx_pattern_matches(variant_pattern, variant_host) == mx_pattern_matches(pattern, host)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(LABEL, st.sampled_from([u'b\u00fccher', u'M\u00dcLLER', 'Xn--Bcher-Kva', 'EXAMPLE'])),
                min_size=1, max_size=5), st.booleans())
def test_domain_normalize_is_idempotent(labels, dot):
    """A normalized name is its own normal form, and stays within the DNS limits (RFC 1035 section 2.3.4)."""
    text = '.'.join(labels) + ('.' if dot else '')
    try:
        name = normalize_domain(text)
    except DomainError:
        return
    assert normalize_domain(name) == name
    assert len(name) <= 253 and all(0 < len(label) <= 63 for label in name.split('.'))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(PATTERN, PATTERN.map(str.upper), PATTERN.map(lambda p: p + '.')), max_size=8),
       st.one_of(HOST, HOST.map(str.upper), HOST.map(lambda h: h + '.')), st.booleans())
def test_pattern_matcher_agrees_with_matching_pattern(patterns, host, related):
    """The constant-time matcher proposed with the hostile-input work gives what the scan gives (skipped until it exists)."""
    from ansible_collections.mailsec.mta_sts.plugins.module_utils import policy

    if related and patterns:
        host = host.split('.')[0] + '.' + patterns[0].lstrip('*.')
    assert policy.pattern_matcher(patterns)(host) == policy.matching_pattern(patterns, host)


POLICY_FIELDS = st.tuples(st.sampled_from(['enforce', 'testing', 'none']), st.lists(PATTERN, min_size=1, max_size=4),
                          st.integers(min_value=0, max_value=MAX_MAX_AGE), st.sampled_from(['\n', '\r\n']))


@settings(max_examples=150, deadline=None)
@given(POLICY_FIELDS, st.integers(min_value=0, max_value=20), st.from_regex(r'\A[ \t]{0,3}\Z'))
def test_policy_any_blank_line_fails_with_its_line_number(fields, where, blank):
    """RFC 8461 section 3.2 ABNF: a blank line anywhere - first, inside or after the final line ending - fails."""
    mode, mx, max_age, eol = fields
    lines = render_policy(mode, mx, max_age).splitlines()
    where = where % (len(lines) + 1)
    lines.insert(where, blank)
    text = eol.join(lines) + eol
    parsed, problems = check_policy(text)
    assert parsed is None and [code for code, _message in problems] == ['policy-blank-line']
    assert str(where + 1) in problems[0][1]


@settings(max_examples=150, deadline=None)
@given(POLICY_FIELDS, st.sampled_from(['version', 'mode', 'max_age']), st.data())
def test_policy_repeated_field_keeps_the_first_value_with_a_warning(fields, key, data):
    """RFC 8461 section 3.2: all entries but the first of a repeated field (not mx) are ignored."""
    mode, mx, max_age, eol = fields
    repeat = {'version': 'STSv1', 'mode': data.draw(st.sampled_from(['enforce', 'testing', 'none'])),
              'max_age': str(data.draw(st.integers(min_value=0, max_value=MAX_MAX_AGE)))}[key]
    text = render_policy(mode, mx, max_age).replace('\n', eol) + '%s: %s%s' % (key, repeat, eol)
    parsed, problems = check_policy(text)
    assert (parsed['mode'], parsed['max_age'], parsed['version']) == (mode, max_age, 'STSv1')
    assert [code for code, _message in problems] == ['policy-field-duplicate']


U_LABELS = st.sampled_from([u'b\u00fccher', u'M\u00dcLLER', u'fa\u00df', u'm\u00f8x', u'\u4f8b\u3048', u'caf\u00e9'])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(LABEL, U_LABELS), min_size=2, max_size=4), st.booleans(), st.booleans())
def test_mx_matching_is_the_same_in_u_labels_and_a_labels(labels, wildcard, host_in_unicode):
    """RFC 6125 section 6.4.2: U-labels become A-labels (IDNA2008) before names are compared."""
    unicode_name = '.'.join(labels)
    try:
        a_label_name = normalize_domain(unicode_name)
    except DomainError:
        return
    pattern = ('*.' + '.'.join(a_label_name.split('.')[1:])) if wildcard else a_label_name
    host = unicode_name if host_in_unicode else a_label_name
    assert mx_pattern_matches(pattern, host)
    assert pattern_matcher([pattern])(host) == pattern
    unicode_pattern = ('*.' + '.'.join(labels[1:])) if wildcard else unicode_name
    assert mx_pattern_matches(unicode_pattern, a_label_name)
