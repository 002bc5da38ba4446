# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The policy_fetch module against a local HTTPS server: the deploy role's check before DNS changes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys
import os
import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

trustme = pytest.importorskip('trustme')

from ansible_collections.mailsec.mta_sts.plugins.module_utils.policy import policy_id  # noqa: E402
from ansible_collections.mailsec.mta_sts.plugins.modules import policy_fetch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from module_runner import run_module  # noqa: E402  (beside this file)

POLICY = 'version: STSv1\nmode: testing\nmx: mx1.example.org\nmax_age: 604800\n'


class Handler(BaseHTTPRequestHandler):
    content_type = 'text/plain'
    body = POLICY
    requests = 0

    def do_GET(self):
        Handler.requests += 1
        data = self.body.encode('utf-8')
        self.send_response(200 if self.path == '/.well-known/mta-sts.txt' else 404)
        self.send_header('Content-Type', self.content_type)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    ca = trustme.CA()
    ca_path = str(tmp_path_factory.mktemp('ca') / 'ca.pem')
    ca.cert_pem.write_to_path(ca_path)
    httpd = HTTPServer(('127.0.0.1', 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert('mta-sts.example.org').configure_cert(context)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield {'port': httpd.server_address[1], 'ca_path': ca_path}
    httpd.shutdown()


def run(capsys, server, **args):
    # the test server is on loopback: the address policy lets the module contact it only when told to
    base = {'domain': 'example.org', 'address': '127.0.0.1', 'port': server['port'], 'ca_path': server['ca_path'],
            'timeout': 5, 'allow_private_addresses': True}
    base.update(args)
    return run_module(policy_fetch, capsys, base)


def test_policy_fetch_verifies_the_expected_id(capsys, server):
    result = run(capsys, server, expected_id=policy_id(POLICY))
    assert result['verified'] is True
    assert result['changed'] is False
    assert result['problem'] is None
    assert result['text'] == POLICY
    assert result['policy']['mx'] == ['mx1.example.org']


def test_policy_fetch_another_id_is_not_verified(capsys, server):
    result = run(capsys, server, expected_id='0123456789abcdef0123')
    assert result['verified'] is False
    assert 'not 0123456789abcdef0123' in result['error']


def test_policy_fetch_wrong_content_type_is_the_audit_finding(capsys, server, monkeypatch):
    monkeypatch.setattr(Handler, 'content_type', 'text/html')
    result = run(capsys, server, expected_id=policy_id(POLICY))
    assert result['verified'] is False
    assert result['problem'] == 'policy-content-type'


def test_policy_fetch_certificate_for_another_host(capsys, server):
    result = run(capsys, server, domain='example.net')
    assert result['verified'] is False
    assert result['problem'] == 'policy-cert-name-mismatch'


def test_policy_fetch_invalid_policy_is_not_verified(capsys, server, monkeypatch):
    monkeypatch.setattr(Handler, 'body', 'version: STSv1\nmode: strict\n')
    result = run(capsys, server)
    assert result['verified'] is False
    assert result['problem'] == 'policy-mode-invalid'


def test_policy_fetch_without_address_reports_a_failed_lookup(capsys, server):
    pytest.importorskip('dns.resolver')
    result = run(capsys, server, address=None, nameservers=['127.0.0.1'], dns_port=9, timeout=0.5)
    assert result['verified'] is False
    assert result['problem'] == 'policy-host-lookup-failed'


def test_policy_fetch_address_must_be_an_ip_address(capsys, server):
    """A host name would be resolved by the system resolver, not the audit's: a clear error instead."""
    result = run(capsys, server, address='web.example.org')
    assert result['failed'] is True and 'is not an IP address' in result['msg']


_PLAIN_GET = Handler.do_GET


def _early_hints_then_policy(self):
    self.send_response_only(103)
    self.send_header('Link', '</style.css>; rel=preload; as=style')
    self.end_headers()
    _PLAIN_GET(self)


def test_policy_fetch_reads_past_interim_responses(capsys, server, monkeypatch):
    """Issue 11 item 6 through the module the deploy role uses: 103 Early Hints, then 200."""
    monkeypatch.setattr(Handler, 'do_GET', _early_hints_then_policy)
    result = run(capsys, server, expected_id=policy_id(POLICY))
    assert result['problem'] is None and result['verified'] is True and result['http_status'] == 200


def test_policy_fetch_does_not_contact_a_loopback_address_by_default(capsys, server, monkeypatch):
    """The audit's address policy: a loopback address is refused with the audit's finding code, never fetched."""
    monkeypatch.setattr(Handler, 'requests', 0)
    result = run(capsys, server, allow_private_addresses=False, expected_id=policy_id(POLICY))
    assert Handler.requests == 0
    assert result['verified'] is False and result['problem'] == 'policy-host-private-address'
    assert 'mta-sts.example.org resolves to 127.0.0.1, a loopback (RFC 1122) address' in result['error']
    assert result['refused_addresses'] == [{'address': '127.0.0.1', 'message': result['error']}]
    assert result['address'] is None and result['text'] is None and result['policy'] is None


def test_policy_fetch_allowed_to_contact_loopback_refuses_nothing(capsys, server):
    result = run(capsys, server, expected_id=policy_id(POLICY))
    assert result['verified'] is True and result['refused_addresses'] == []


def test_policy_fetch_returns_what_senders_ignore_as_policy_warnings(capsys, server, monkeypatch):
    """RFC 8461 section 3.2: a field given twice - senders use the first; the policy is still served and verified."""
    text = POLICY + 'mode: enforce\n'
    monkeypatch.setattr(Handler, 'body', text)
    result = run(capsys, server, expected_id=policy_id(text))
    assert result['verified'] is True and result['problem'] is None
    assert result['policy']['mode'] == 'testing'
    assert [item['code'] for item in result['policy']['warnings']] == ['policy-field-duplicate']
    assert 'mode' in result['policy']['warnings'][0]['message']
