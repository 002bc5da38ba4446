# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A local stand-in for the Microsoft identity platform and Microsoft Graph, for tests.

HTTPS on 127.0.0.1 (certificate from trustme), speaking the documented shapes of
``POST /<tenant>/oauth2/v2.0/token`` (client credentials grant) and ``GET /v1.0/domains`` (paged with
``@odata.nextLink``). Not Microsoft's service: the tests say so.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import ssl
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TENANT = 'contoso.onmicrosoft.com'
CLIENT_ID = '11111111-2222-3333-4444-555555555555'
CLIENT_SECRET = 'right~secret'
TOKEN = 'eyJ0eXAiOiJKV1QiLCJub25jZSI6InRlc3QifQ.lab.token'


def domain(name, services=('Email', 'OfficeCommunicationsOnline'), verified=True, default=False, initial=False):
    """A domain resource as GET /v1.0/domains returns it."""
    return {
        'authenticationType': 'Managed', 'availabilityStatus': None, 'id': name, 'isAdminManaged': True,
        'isDefault': default, 'isInitial': initial, 'isRoot': True, 'isVerified': verified,
        'passwordNotificationWindowInDays': 14, 'passwordValidityPeriodInDays': 2147483647,
        'supportedServices': list(services), 'state': None,
    }


DOMAINS = [
    domain('contoso.com', default=True),
    domain('contoso.onmicrosoft.com', initial=True),
    domain('contoso.mail.onmicrosoft.com', services=('Email',)),
    domain('fabrikam.com', services=('Email', 'Intune')),
    domain('sharepoint-only.com', services=('SharePoint',)),
    domain('pending.com', verified=False),
    domain('B\u00fccher.example'),
]


class GraphServer(object):
    """Start with ``with GraphServer(ca) as server:``; ``server.url`` is the base URL of both endpoints."""

    def __init__(self, ca, domains=None, page_size=3, throttle_first=False, foreign_next_link=False):
        self.domains = list(DOMAINS if domains is None else domains)
        self.page_size = page_size
        self.throttle_first = throttle_first
        self.foreign_next_link = foreign_next_link
        self.requests = []
        self._ca = ca
        self._server = None
        self._thread = None

    def __enter__(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body, headers=None):
                data = json.dumps(body).encode('utf-8')
                self.send_response(status)
                self.send_header('Content-Type', 'application/json; charset=utf-8')
                self.send_header('Content-Length', str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get('Content-Length') or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode('ascii'))
                owner.requests.append(('POST', self.path, dict((k, v[0]) for k, v in form.items())))
                if self.path != '/%s/oauth2/v2.0/token' % TENANT:
                    return self._send(400, {'error': 'invalid_tenant', 'error_description':
                                            "AADSTS90002: Tenant '%s' not found.\r\nTrace ID: 0" % self.path})
                if form.get('grant_type') != ['client_credentials'] or not form.get('scope'):
                    return self._send(400, {'error': 'invalid_request', 'error_description': 'AADSTS900144'})
                if form.get('client_id') != [CLIENT_ID] or form.get('client_secret') != [CLIENT_SECRET]:
                    return self._send(401, {'error': 'invalid_client', 'error_description':
                                            'AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1'})
                return self._send(200, {'token_type': 'Bearer', 'expires_in': 3599, 'ext_expires_in': 3599,
                                        'access_token': TOKEN})

            def do_GET(self):
                owner.requests.append(('GET', self.path, self.headers.get('Authorization')))
                parsed = urllib.parse.urlparse(self.path)
                if parsed.path != '/v1.0/domains':
                    return self._send(404, {'error': {'code': 'Request_ResourceNotFound', 'message': 'not found'}})
                if self.headers.get('Authorization') != 'Bearer %s' % TOKEN:
                    return self._send(401, {'error': {'code': 'InvalidAuthenticationToken',
                                                      'message': 'Access token is empty.'}})
                if owner.throttle_first:
                    owner.throttle_first = False
                    return self._send(429, {'error': {'code': 'TooManyRequests', 'message': 'throttled'}},
                                      {'Retry-After': '0'})
                query = urllib.parse.parse_qs(parsed.query)
                start = int(query.get('$skiptoken', ['0'])[0])
                page = owner.domains[start:start + owner.page_size]
                body = {'@odata.context': '%s/v1.0/$metadata#domains' % owner.url, 'value': page}
                if start + owner.page_size < len(owner.domains):
                    base = 'https://graph.evil.example' if owner.foreign_next_link else owner.url
                    body['@odata.nextLink'] = '%s/v1.0/domains?$skiptoken=%d' % (base, start + owner.page_size)
                return self._send(200, body)

        self._server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert('127.0.0.1', 'localhost').configure_cert(context)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = 'https://127.0.0.1:%d' % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name='graph-stand-in')
        self._thread.daemon = True
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
