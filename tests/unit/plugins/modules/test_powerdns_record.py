# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The powerdns_record module against a fake PowerDNS API: honest changed, check mode, diff, errors, no_log.

The same module runs against a real pdns_server in tests/integration/test_deploy.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import sys
import os

import pytest

requests = pytest.importorskip('requests')

from ansible_collections.mailsec.mta_sts.plugins.modules import powerdns_record  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from module_runner import run_module  # noqa: E402  (beside this file)

API_KEY = 's3cr3t-api-key'
ZONE_URL = 'http://pdns.test:8081/api/v1/servers/localhost/zones/example.org.'


class FakeResponse(object):
    def __init__(self, status, data=None):
        self.status_code = status
        self._data = data
        self.text = json.dumps(data) if data is not None else ''

    def json(self):
        if self._data is None:
            raise ValueError('no JSON')
        return self._data


class FakeAPI(object):
    """Just enough of PowerDNS: one zone, GET and PATCH with REPLACE / DELETE."""

    def __init__(self, rrsets=None, status=None):
        self.rrsets = list(rrsets or [])
        self.status = status
        self.calls = []

    def __call__(self, session, method, url, timeout=None, json=None, **kwargs):
        self.calls.append((method, url, json, dict(session.headers)))
        if self.status:
            return FakeResponse(self.status, {'error': 'nope'})
        if url != ZONE_URL:
            return FakeResponse(404, {'error': 'Could not find domain'})
        if method == 'GET':
            return FakeResponse(200, {'name': 'example.org.', 'rrsets': self.rrsets})
        for change in json['rrsets']:
            self.rrsets = [r for r in self.rrsets if (r['name'], r['type']) != (change['name'], change['type'])]
            if change['changetype'] == 'REPLACE':
                self.rrsets.append({'name': change['name'], 'type': change['type'], 'ttl': change['ttl'],
                                    'records': change['records']})
        return FakeResponse(204)


@pytest.fixture
def api(monkeypatch):
    fake = FakeAPI([{'name': 'example.org.', 'type': 'SOA', 'ttl': 3600,
                     'records': [{'content': 'ns. h. 1 2 3 4 5', 'disabled': False}]}])
    patch_api(monkeypatch, fake)
    return fake


def patch_api(monkeypatch, fake):
    def request(session, *args, **kwargs):
        return fake(session, *args, **kwargs)
    monkeypatch.setattr(requests.Session, 'request', request)


def run(capsys, check=False, diff=False, **args):
    base = {'api_url': 'http://pdns.test:8081', 'api_key': API_KEY, 'zone': 'example.org'}
    base.update(args)
    return run_module(powerdns_record, capsys, base, check=check, diff=diff)


def patches(api):
    return [call for call in api.calls if call[0] == 'PATCH']


def test_powerdns_txt_is_created_quoted_then_unchanged(capsys, api):
    result = run(capsys, name='_mta-sts', type='TXT', value=['v=STSv1; id=abc123;'], ttl=300)
    assert result['changed'] is True
    assert result['name'] == '_mta-sts.example.org.'
    assert result['before'] is None
    assert result['after'] == {'ttl': 300, 'value': ['v=STSv1; id=abc123;']}
    sent = patches(api)[0][2]['rrsets'][0]
    assert sent['changetype'] == 'REPLACE'
    assert sent['records'] == [{'content': '"v=STSv1; id=abc123;"', 'disabled': False}]
    again = run(capsys, name='_mta-sts.example.org', type='txt', value=['v=STSv1; id=abc123;'], ttl=300)
    assert again['changed'] is False
    assert len(patches(api)) == 1


def test_powerdns_txt_split_by_the_server_still_compares_equal(capsys, api):
    long_value = 'v=TLSRPTv1; rua=' + ','.join('mailto:r%03d@example.org' % i for i in range(20))
    run(capsys, name='_smtp._tls', type='TXT', value=[long_value], ttl=300)
    content = api.rrsets[-1]['records'][0]['content']
    assert content.count('"') == 4  # two strings: more than 255 octets
    assert run(capsys, name='_smtp._tls', type='TXT', value=[long_value], ttl=300)['changed'] is False


def test_powerdns_ttl_or_value_change_is_a_change(capsys, api):
    run(capsys, name='mta-sts', type='A', value=['192.0.2.10'], ttl=300)
    assert run(capsys, name='mta-sts', type='A', value=['192.0.2.10'], ttl=600)['changed'] is True
    result = run(capsys, diff=True, name='mta-sts', type='A', value=['192.0.2.11', '192.0.2.10'], ttl=600)
    assert result['changed'] is True
    assert result['diff']['before'] == 'mta-sts.example.org. 600 IN A 192.0.2.10\n'
    assert '192.0.2.11' in result['diff']['after']


def test_powerdns_check_mode_changes_nothing(capsys, api):
    result = run(capsys, check=True, diff=True, name='_mta-sts', type='TXT', value=['v=STSv1; id=abc123;'])
    assert result['changed'] is True
    assert patches(api) == []
    assert 'v=STSv1; id=abc123;' in result['diff']['after']


def test_powerdns_absent(capsys, api):
    run(capsys, name='mta-sts', type='CNAME', value=['web.example.net'], ttl=300)
    assert api.rrsets[-1]['records'][0]['content'] == 'web.example.net.'
    assert run(capsys, name='mta-sts', type='CNAME', value=['web.example.net.'], ttl=300)['changed'] is False
    assert run(capsys, name='mta-sts', type='CNAME', state='absent')['changed'] is True
    assert patches(api)[-1][2]['rrsets'][0]['changetype'] == 'DELETE'
    assert run(capsys, name='mta-sts', type='CNAME', state='absent')['changed'] is False


def test_powerdns_api_key_goes_in_the_header_and_nowhere_else(capsys, api):
    result = run(capsys, name='_mta-sts', type='TXT', value=['v=STSv1; id=abc123;'])
    assert all(call[3]['X-API-Key'] == API_KEY for call in api.calls)
    assert API_KEY not in json.dumps(result)


@pytest.mark.parametrize('status, words', [
    (401, 'refused the API key (HTTP 401); check api_key'),
    (500, 'answered HTTP 500'),
])
def test_powerdns_api_errors_are_clear(capsys, monkeypatch, status, words):
    patch_api(monkeypatch, FakeAPI(status=status))
    result = run(capsys, name='_mta-sts', type='TXT', value=['v=STSv1; id=abc123;'])
    assert result['failed'] is True
    assert words in result['msg']
    assert API_KEY not in result['msg']


def test_powerdns_unknown_zone_is_named(capsys, api):
    result = run(capsys, zone='example.net', name='_mta-sts', type='TXT', value=['v=STSv1; id=abc123;'])
    assert result['failed'] is True
    assert 'zone example.net. not found' in result['msg']


def test_powerdns_unreachable_api(capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise requests.exceptions.ConnectionError('connection refused')
    monkeypatch.setattr(requests.Session, 'request', refuse)
    result = run(capsys, name='_mta-sts', type='TXT', value=['v=STSv1; id=abc123;'])
    assert result['failed'] is True
    assert 'cannot reach the PowerDNS API' in result['msg']


def test_powerdns_name_outside_the_zone_is_refused(capsys, api):
    result = run(capsys, name='_mta-sts.example.net.', type='TXT', value=['v=STSv1; id=abc123;'])
    assert result['failed'] is True
    assert 'not inside zone' in result['msg']
