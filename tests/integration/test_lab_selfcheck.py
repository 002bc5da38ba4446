# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab serves what scenarios.py declares: checked with dnspython and ssl, without the audit module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import importlib.util
import os
import socket
import ssl

import dns.name
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update
import pytest

import scenarios as sc
from labcheck import (CERT_HAS_EXPIRED, HOSTNAME_MISMATCH, UNABLE_TO_GET_ISSUER_CERT_LOCALLY, dns_query,
                      https_get, record_value, smtp_probe)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
WITH_DNS = [s for s in sc.SCENARIOS if s['domain'] is not None]
WITH_WEB = [s for s in sc.SCENARIOS if s['web'] is not None]
STATUSES = ('pass', 'fail', 'unknown', 'skipped')


def _catalog():
    path = os.path.join(REPO_ROOT, 'plugins', 'module_utils', 'findings.py')
    spec = importlib.util.spec_from_file_location('lab_findings_catalog', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CATALOG


def _zone_of(name, zones):
    best = None
    for zone in zones:
        if name == zone or name.endswith('.' + zone):
            if best is None or len(zone) > len(best):
                best = zone
    return best


# --- the scenario data itself (no servers needed) ---------------------------------------------

def test_scenarios_cover_every_finding_code():
    catalog = _catalog()
    expected = set(code for s in sc.SCENARIOS for code in s['expect']['codes'])
    assert expected <= set(catalog), 'codes unknown to findings.py: %s' % sorted(expected - set(catalog))
    assert sorted(set(catalog) - expected - sc.NOT_PRODUCIBLE - sc.COVERED_ELSEWHERE) == []


def test_scenarios_cover_every_status_and_group():
    assert set(s['expect']['status'] for s in sc.SCENARIOS) == set(STATUSES)
    assert set(s['group'] for s in sc.SCENARIOS) == set(sc.GROUPS)
    assert len([s for s in sc.SCENARIOS if s['domain']]) >= 30


def test_scenario_inputs_are_unique_per_group():
    seen = collections.Counter((s['group'], s['input']) for s in sc.SCENARIOS)
    assert [key for key, count in seen.items() if count > 1] == []
    normalized = collections.Counter((s['group'], s['domain']) for s in sc.SCENARIOS if s['domain'])
    assert [key for key, count in normalized.items() if count > 1] == []


def test_idn_scenarios_use_a_labels():
    idn = [s for s in sc.SCENARIOS if s['id'].startswith('idn-')]
    assert idn and all(s['domain'].startswith('xn--') and s['input'] != s['domain'] for s in idn)


def test_scenario_policies_match_their_expectations():
    for s in WITH_WEB:
        body = s['web']['body'] or b''
        if 'policy-mode-testing' in s['expect']['codes']:
            assert b'mode: testing' in body, s['id']
        if s['expect']['status'] == 'pass' and 'policy-mode-testing' not in s['expect']['codes']:
            assert b'mode: enforce' in body, s['id']


def test_scenarios_use_loopback_only():
    for s in sc.SCENARIOS:
        for owner, rtype, value in s['records']:
            if rtype == 'A':
                assert value.startswith('127.'), (s['id'], owner, value)
            assert rtype != 'AAAA'


# --- DNS ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('scenario', WITH_DNS, ids=[s['id'] for s in WITH_DNS])
def test_dns_serves_declared_records(lab_info, scenario):
    server, port = lab_info['nameserver'], lab_info['dns_port']
    domain = scenario['domain']
    if not scenario['zones']:
        rcode = dns_query(server, port, '_mta-sts.' + domain, 'TXT')[0]
        assert rcode == 'REFUSED'
        return
    for zone in scenario['zones']:
        rcode = dns_query(server, port, zone, 'SOA')[0]
        assert rcode == ('SERVFAIL' if zone in scenario['broken'] else 'NOERROR'), zone
    declared = collections.defaultdict(set)
    for owner, rtype, value in scenario['records']:
        declared[(owner.lower(), rtype)].add(record_value(rtype, value))
    for (owner, rtype), values in sorted(declared.items()):
        for tcp in (False, True):
            rcode, answers = dns_query(server, port, owner, rtype, tcp=tcp)
            if _zone_of(owner, scenario['zones']) in scenario['broken']:
                assert rcode == 'SERVFAIL', (owner, rtype)
            else:
                assert (rcode, answers) == ('NOERROR', values), (owner, rtype)
    # What a scenario leaves out is really absent (NXDOMAIN or NODATA).
    for owner, rtype in (('_mta-sts.' + domain, 'TXT'), ('mta-sts.' + domain, 'A'), (domain, 'MX'),
                         ('_smtp._tls.' + domain, 'TXT')):
        if (owner, rtype) in declared or _zone_of(owner, scenario['zones']) in scenario['broken']:
            continue
        if any(o.lower() == owner and t == 'CNAME' for o, t, v in scenario['records']):
            continue
        rcode, answers = dns_query(server, port, owner, rtype)
        assert rcode in ('NOERROR', 'NXDOMAIN') and not answers, (owner, rtype, rcode, answers)


def test_dns_is_authoritative_only(lab_info):
    rcode = dns_query(lab_info['nameserver'], lab_info['dns_port'], 'example.com', 'A')[0]
    assert rcode == 'REFUSED'


# --- the policy web servers --------------------------------------------------------------------

@pytest.mark.parametrize('scenario', WITH_WEB, ids=[s['id'] for s in WITH_WEB])
def test_policy_host_behaves_as_declared(lab_info, scenario):
    site = scenario['web']
    ca = lab_info['ca_path']
    host, ip = site['host'], site['ip']
    if ip == sc.SILENT_IP:
        with pytest.raises(socket.timeout):
            https_get(ip, host, ca, timeout=1)
        return
    if ip == sc.REFUSED_IP:
        with pytest.raises(ConnectionRefusedError):
            https_get(ip, host, ca)
        return
    if ip == sc.PLAIN_IP:
        with pytest.raises(ssl.SSLError) as info:
            https_get(ip, host, ca)
        assert not isinstance(info.value, ssl.SSLCertVerificationError)
        return
    if ip == sc.GARBAGE_IP:
        reply = https_get(ip, host, ca)
        assert reply['status'] is None and reply['raw'] and not reply['raw'].startswith(b'HTTP/')
        return
    if ip == sc.INTERIM_IP:  # 100 and 103 first, then the policy with 200
        reply = https_get(ip, host, ca)
        assert reply['status'] == 100 and b'\r\nHTTP/1.1 103 Early Hints\r\n' in reply['raw']
        assert reply['raw'].endswith(b'\r\n\r\n' + site['body']) and b'HTTP/1.1 200 OK' in reply['raw']
        return
    assert ip == sc.WEB_IP
    codes = {'expired': CERT_HAS_EXPIRED, 'wrongname': HOSTNAME_MISMATCH,
             'rogue': UNABLE_TO_GET_ISSUER_CERT_LOCALLY}
    if site['cert'] in codes:
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            https_get(ip, host, ca)
        assert info.value.verify_code == codes[site['cert']]
        return
    reply = https_get(ip, host, ca)
    response = site['response']
    if response == '404':
        assert reply['status'] == 404
    elif response == 'redirect':
        assert reply['status'] == 301 and reply['headers']['location'].startswith('https://')
    else:
        assert reply['status'] == 200
        assert reply['body'] == site['body']
        assert reply['headers']['content-type'] == {
            'ok': 'text/plain', 'charset': 'text/plain; charset=utf-8', 'html': 'text/html',
            'brotli': 'text/plain'}[response]
        assert reply['headers'].get('content-encoding') == ('br' if response == 'brotli' else None)
    if scenario['id'] == 'policy-too-large':
        assert len(reply['body']) > sc.MAX_POLICY_SIZE
    elif reply['status'] == 200:
        assert len(reply['body']) <= sc.MAX_POLICY_SIZE


def test_unknown_sni_gets_no_policy(lab_info):
    reply = https_get(sc.WEB_IP, 'lab-default.test', lab_info['ca_path'])
    assert reply['status'] == 421


# --- SMTP --------------------------------------------------------------------------------------

SMTP_EXPECT = {
    sc.SMTP_GOOD_IP: 'ok',
    sc.SMTP_EXPIRED_IP: 'cert:%d' % CERT_HAS_EXPIRED,
    sc.SMTP_NOTLS_IP: 'no-starttls',
    sc.SMTP_WRONGNAME_IP: 'cert:%d' % HOSTNAME_MISMATCH,
    sc.SMTP_REFUSED_IP: 'refused',
    sc.SMTP_ROGUE_IP: 'cert:%d' % UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
    sc.SMTP_TLSBROKEN_IP: 'tls-error',
    sc.SMTP_EXPIRING_IP: 'ok',  # still valid: the audit warns because it expires within cert_min_days
    sc.SMTP_CNONLY_IP: 'ok',  # Python's default falls back to the CN; the audit matches DNS-IDs only
}
MX_HOSTS = sorted(set((owner.lower(), value) for s in sc.SCENARIOS if s['group'] == 'check_mx_tls'
                      for owner, rtype, value in s['records'] if rtype == 'A' and value in SMTP_EXPECT))


@pytest.mark.parametrize('mx_name,ip', MX_HOSTS, ids=[name for name, ip in MX_HOSTS])  # ids must not vary by slot
def test_smtp_behaves_as_declared(lab_info, mx_name, ip):
    assert smtp_probe(ip, mx_name, lab_info['ca_path'], port=lab_info['smtp_port']) == SMTP_EXPECT[ip]


@pytest.mark.parametrize('mx_name', sc.good_mx_names())
def test_good_smtp_certificate_covers_every_good_mx(lab_info, mx_name):
    assert smtp_probe(sc.SMTP_GOOD_IP, mx_name, lab_info['ca_path']) == 'ok'


# --- the files the lab hands to the audit --------------------------------------------------------

def test_lab_json_and_vars(lab_info):
    for key in ('nameserver', 'dns_port', 'ca_path', 'tsig', 'nginx', 'scenarios'):
        assert key in lab_info
    assert lab_info['nameserver'] == '127.0.0.1' and lab_info['dns_port'] == sc.DNS_PORT
    assert set(lab_info['tsig']) >= {'name', 'algorithm', 'secret'}
    assert len(lab_info['scenarios']) == len(sc.SCENARIOS)
    with open(os.path.join(lab_info['dir'], 'lab-vars.yml'), encoding='utf-8') as handle:
        text = handle.read()
    for key in ('mailsec_mta_sts_domains:', 'mailsec_mta_sts_nameservers:', 'mailsec_mta_sts_ca_path:',
                'mailsec_mta_sts_dns_port: %d' % sc.DNS_PORT, 'mailsec_mta_sts_timeout: 5'):
        assert key in text
    with open(lab_info['ca_path']) as handle:
        assert handle.read().count('BEGIN CERTIFICATE') == 1


def test_tsig_key_can_update_a_zone(lab_info):
    keyring = dns.tsigkeyring.from_text({lab_info['tsig']['name']: lab_info['tsig']['secret']})
    zone = 'pass-enforce.test'
    update = dns.update.UpdateMessage(zone, keyring=keyring, keyname=lab_info['tsig']['name'],
                                      keyalgorithm=dns.name.from_text(lab_info['tsig']['algorithm']))
    update.replace('lab-selfcheck', 300, 'TXT', '"written by the selfcheck"')
    reply = dns.query.tcp(update, lab_info['nameserver'], port=lab_info['dns_port'], timeout=3)
    assert dns.rcode.to_text(reply.rcode()) == 'NOERROR'
    rcode, answers = dns_query(lab_info['nameserver'], lab_info['dns_port'], 'lab-selfcheck.' + zone, 'TXT')
    assert answers == {('written by the selfcheck',)}
    update = dns.update.UpdateMessage(zone, keyring=keyring, keyname=lab_info['tsig']['name'],
                                      keyalgorithm=dns.name.from_text(lab_info['tsig']['algorithm']))
    update.delete('lab-selfcheck')
    reply = dns.query.tcp(update, lab_info['nameserver'], port=lab_info['dns_port'], timeout=3)
    assert dns.rcode.to_text(reply.rcode()) == 'NOERROR'


def test_update_without_key_is_refused(lab_info):
    update = dns.update.UpdateMessage('pass-enforce.test')
    update.replace('lab-nokey', 300, 'TXT', '"nope"')
    reply = dns.query.tcp(update, lab_info['nameserver'], port=lab_info['dns_port'], timeout=3)
    assert dns.rcode.to_text(reply.rcode()) == 'REFUSED'
