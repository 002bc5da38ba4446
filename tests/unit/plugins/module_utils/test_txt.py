# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TXT notation per DNS provider (RFC 1035 section 3.3 / 5.1) and the TLS-RPT record renderer (RFC 8460)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given, strategies as st

from ansible_collections.mailsec.mta_sts.plugins.module_utils.record import RecordError, parse_tlsrpt_record
from ansible_collections.mailsec.mta_sts.plugins.module_utils.txt import (
    PROVIDER_NOTATION, TxtError, provider_txt_value, quote_txt, render_tlsrpt_record, split_strings, unquote_txt)


def test_txt_zone_notation_quotes_and_escapes():
    assert quote_txt('v=STSv1; id=abc;') == '"v=STSv1; id=abc;"'
    assert quote_txt('a"b\\c') == '"a\\"b\\\\c"'


def test_txt_long_value_is_split_in_255_octet_strings():
    text = 'x' * 600
    assert [len(part) for part in split_strings(text)] == [255, 255, 90]
    assert quote_txt(text).count('" "') == 2


def test_txt_split_never_cuts_a_character():
    text = u'\u00e9' * 200  # two octets each
    assert all(len(part.encode('utf-8')) <= 255 for part in split_strings(text))
    assert ''.join(split_strings(text)) == text


def test_txt_unquote_joins_strings_and_reads_escapes():
    assert unquote_txt('"v=STSv1; " "id=abc;"') == 'v=STSv1; id=abc;'
    assert unquote_txt('"a\\"b\\\\c"') == 'a"b\\c'
    assert unquote_txt('"caf\\195\\169"') == u'caf\u00c3\u00a9'
    assert unquote_txt('plain') == 'plain'


def test_txt_unquote_rejects_garbage():
    with pytest.raises(TxtError):
        unquote_txt('"open')


@given(st.text(alphabet=st.characters(blacklist_categories=('Cs',)), max_size=700))
def test_txt_quote_unquote_round_trip(text):
    assert unquote_txt(quote_txt(text)) == text


@pytest.mark.parametrize('provider', sorted(PROVIDER_NOTATION))
def test_txt_every_provider_has_a_notation(provider):
    value = provider_txt_value('v=STSv1; id=abc;', provider)
    assert value in ('"v=STSv1; id=abc;"', 'v=STSv1; id=abc;')


def test_txt_quoted_and_plain_providers():
    assert provider_txt_value('v=STSv1; id=abc;', 'route53') == '"v=STSv1; id=abc;"'
    assert provider_txt_value('v=STSv1; id=abc;', 'hetzner') == 'v=STSv1; id=abc;'
    with pytest.raises(TxtError):
        provider_txt_value('v=STSv1; id=abc;', 'bind-by-hand')


def test_tlsrpt_record_renders_what_the_audit_parses():
    text = render_tlsrpt_record(['mailto:tlsrpt@example.org', 'https://reports.example.net/tlsrpt'])
    assert text == 'v=TLSRPTv1; rua=mailto:tlsrpt@example.org,https://reports.example.net/tlsrpt'
    assert parse_tlsrpt_record(text)['rua'] == ['mailto:tlsrpt@example.org', 'https://reports.example.net/tlsrpt']


@pytest.mark.parametrize('rua', [[], ['ftp://example.org/x'], ['tlsrpt@example.org']])
def test_tlsrpt_record_refuses_what_the_audit_would_reject(rua):
    with pytest.raises(RecordError):
        render_tlsrpt_record(rua)


@pytest.mark.parametrize('call', [lambda: provider_txt_value('v=STSv1; id=abc;', 'bind-by-hand'),
                                  lambda: unquote_txt('"v=STSv1; id=abc;'),
                                  lambda: unquote_txt('abc "def')])
def test_txt_errors_are_words_without_python_reprs(call):
    with pytest.raises(TxtError) as caught:
        call()
    assert "'" not in str(caught.value), str(caught.value)
