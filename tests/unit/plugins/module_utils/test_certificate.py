# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The policy host's certificate checks before install (RFC 8461 section 3.3, RFC 6125 names), on trustme certificates."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

import pytest

trustme = pytest.importorskip('trustme')
pytest.importorskip('cryptography')

from ansible_collections.mailsec.mta_sts.plugins.module_utils import certificate  # noqa: E402

HOST = 'mta-sts.example.test'
UTC = datetime.timezone.utc


@pytest.fixture(scope='module')
def ca():
    return trustme.CA()


def _files(leaf):
    return b''.join(blob.bytes() for blob in leaf.cert_chain_pems), leaf.private_key_pem.bytes()


def _roots(ca):
    return certificate.load_chain(ca.cert_pem.bytes())


def test_a_good_certificate_has_no_problem(ca):
    cert, key = _files(ca.issue_cert(HOST))
    problems, seen = certificate.check(HOST, cert, key, _roots(ca))
    assert problems == []
    assert seen['dns_names'] == [HOST] and seen['chain_length'] == 1


def test_a_certificate_for_another_name_is_refused(ca):
    cert, key = _files(ca.issue_cert('mta-sts.elsewhere.test'))
    problems, _seen = certificate.check(HOST, cert, key, _roots(ca))
    assert problems == ['it is for mta-sts.elsewhere.test, not mta-sts.example.test']


def test_an_expired_certificate_is_refused(ca):
    now = datetime.datetime.now(UTC)
    cert, key = _files(ca.issue_cert(HOST, not_before=now - datetime.timedelta(days=30),
                                     not_after=now - datetime.timedelta(days=1)))
    problems, _seen = certificate.check(HOST, cert, key, _roots(ca))
    assert problems and problems[0].startswith('it expired on ')


def test_a_certificate_not_yet_valid_is_refused(ca):
    now = datetime.datetime.now(UTC)
    cert, key = _files(ca.issue_cert(HOST, not_before=now + datetime.timedelta(days=2),
                                     not_after=now + datetime.timedelta(days=30)))
    problems, _seen = certificate.check(HOST, cert, key, _roots(ca))
    assert problems[0].startswith('it is not valid before ')


def test_min_days_refuses_a_certificate_about_to_expire(ca):
    now = datetime.datetime.now(UTC)
    cert, key = _files(ca.issue_cert(HOST, not_after=now + datetime.timedelta(days=3)))
    assert certificate.check(HOST, cert, key, _roots(ca))[0] == []
    problems, _seen = certificate.check(HOST, cert, key, _roots(ca), min_days=14)
    assert problems[0].endswith('within 14 days')


def test_a_key_of_another_certificate_is_refused(ca):
    cert, _key = _files(ca.issue_cert(HOST))
    _cert, other_key = _files(ca.issue_cert(HOST))
    problems, _seen = certificate.check(HOST, cert, other_key, _roots(ca))
    assert problems == ['the private key does not belong to the certificate']


def test_a_chain_to_another_ca_is_refused(ca):
    cert, key = _files(trustme.CA().issue_cert(HOST))
    problems, _seen = certificate.check(HOST, cert, key, _roots(ca))
    assert len(problems) == 1 and problems[0].startswith('its chain does not lead to a trusted CA')


def test_an_intermediate_in_the_file_completes_the_chain(ca):
    intermediate = ca.create_child_ca()
    cert, key = _files(intermediate.issue_cert(HOST))
    assert certificate.check(HOST, cert, key, _roots(ca))[0] == []
    leaf_only = cert.split(b'-----END CERTIFICATE-----', maxsplit=1)[0] + b'-----END CERTIFICATE-----\n'
    problems, _seen = certificate.check(HOST, leaf_only, key, _roots(ca))
    assert problems and 'put the full chain in the file' in problems[0]


def test_a_wildcard_covers_one_label(ca):
    cert, key = _files(ca.issue_cert('*.example.test'))
    assert certificate.check(HOST, cert, key, _roots(ca))[0] == []
    assert certificate.check('a.mta-sts.example.test', cert, key, None)[0] == [
        'it is for *.example.test, not a.mta-sts.example.test']


@pytest.mark.parametrize('pattern, host, matches', [
    ('mta-sts.example.test', 'MTA-STS.example.test.', True),
    ('*.example.test', 'mta-sts.example.test', True),
    ('*.example.test', 'example.test', False),
    ('*.example.test', 'a.b.example.test', False),
    ('*.test', 'example.test', False),  # no wildcard over a whole public suffix-like label
    ('mta*.example.test', 'mta-sts.example.test', False),  # RFC 6125 6.4.3: only a whole leftmost label here
])
def test_name_matching_rules(pattern, host, matches):
    assert certificate.name_matches(pattern, host) is matches


def test_files_that_hold_no_pem(ca):
    _cert, key = _files(ca.issue_cert(HOST))
    assert certificate.check(HOST, b'not a certificate', key, None)[0] == ['the certificate file holds no PEM certificate']
    cert, _key = _files(ca.issue_cert(HOST))
    problems, _seen = certificate.check(HOST, cert, b'garbage', None)
    assert problems == ['the key file holds no unencrypted PEM private key (ValueError)']


def test_no_ca_certificates_means_no_trusted_chain(ca):
    cert, key = _files(ca.issue_cert(HOST))
    assert certificate.check(HOST, cert, key, [])[0] == ['no CA certificate to check the chain against']


def test_the_system_store_is_read_when_no_bundle_is_given():
    assert len(certificate.trust_store_certs(None)) > 10
