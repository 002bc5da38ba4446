# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read a tenant's domains from Microsoft Graph (GET /v1.0/domains) with an app credential.

Pure Python with requests, no Ansible imports. The token comes from the Microsoft identity platform's
client credentials grant (POST https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token); the app needs
the application permission Domain.Read.All. Tested against a local HTTPS server that speaks the documented
shapes of both endpoints, not against Microsoft's service.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

try:
    import requests
    HAS_REQUESTS = True
except ImportError:  # pragma: no cover - requests is in requirements.txt
    HAS_REQUESTS = False

LOGIN_URL = 'https://login.microsoftonline.com'
GRAPH_URL = 'https://graph.microsoft.com'
SCOPE = 'https://graph.microsoft.com/.default'
MAX_PAGES = 1000
RETRY_STATUSES = (429, 503, 504)


class GraphError(Exception):
    """Graph or the token endpoint said no; the message says what to check (never a secret)."""


def _error_text(response):
    try:
        body = response.json()
    except ValueError:
        return 'HTTP %d' % response.status_code
    if isinstance(body, dict):
        error = body.get('error')
        if isinstance(error, dict):  # Graph: {"error": {"code": ..., "message": ...}}
            return 'HTTP %d %s: %s' % (response.status_code, error.get('code'), error.get('message'))
        if error:  # identity platform: {"error": ..., "error_description": ...}
            return 'HTTP %d %s: %s' % (response.status_code, error, (body.get('error_description') or '').split('\r\n')[0])
    return 'HTTP %d' % response.status_code


class GraphClient(object):
    """A client-credentials session against the identity platform and Graph."""

    def __init__(self, tenant_id, client_id, client_secret, login_url=LOGIN_URL, graph_url=GRAPH_URL,
                 scope=SCOPE, timeout=30.0, verify=True, session=None, sleep=time.sleep):
        if not HAS_REQUESTS:
            raise GraphError('the Graph source needs the Python library requests')
        for name, value in (('tenant_id', tenant_id), ('client_id', client_id), ('client_secret', client_secret)):
            if not value:
                raise GraphError('the Graph source needs %s' % name)
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._secret = client_secret
        self.login_url = login_url.rstrip('/')
        self.graph_url = graph_url.rstrip('/')
        self.scope = scope
        self.timeout = timeout
        self.verify = verify
        self.session = session or requests.Session()
        self._sleep = sleep
        self._token = None

    def _request(self, method, url, **kwargs):
        for attempt in range(3):
            try:
                response = self.session.request(method, url, timeout=self.timeout, verify=self.verify,
                                                allow_redirects=False, **kwargs)
            except requests.RequestException as exc:
                raise GraphError('cannot reach %s: %s' % (url.split('?')[0], exc))
            if response.status_code in RETRY_STATUSES and attempt < 2:
                try:
                    delay = min(float(response.headers.get('Retry-After', 1)), 10.0)
                except ValueError:
                    delay = 1.0
                self._sleep(delay)
                continue
            return response
        return response  # pragma: no cover - the loop returns

    def token(self):
        if self._token is None:
            url = '%s/%s/oauth2/v2.0/token' % (self.login_url, self.tenant_id)
            response = self._request('POST', url, data={
                'grant_type': 'client_credentials', 'client_id': self.client_id,
                'client_secret': self._secret, 'scope': self.scope})
            if response.status_code != 200:
                raise GraphError('no token for app %s in tenant %s (%s); check tenant_id, client_id and the secret'
                                 % (self.client_id, self.tenant_id, _error_text(response)))
            try:
                self._token = response.json()['access_token']
            except (ValueError, KeyError, TypeError):
                raise GraphError('the token endpoint %s answered without an access_token' % url)
        return self._token

    def domains(self):
        """Every domain object of the tenant, following @odata.nextLink pages."""
        url = '%s/v1.0/domains' % self.graph_url
        out = []
        for dummy in range(MAX_PAGES):
            response = self._request('GET', url, headers={'Authorization': 'Bearer %s' % self.token(),
                                                          'Accept': 'application/json'})
            if response.status_code != 200:
                raise GraphError('GET /v1.0/domains failed (%s); the app needs the application permission '
                                 'Domain.Read.All with admin consent' % _error_text(response))
            try:
                page = response.json()
                values = page['value']
            except (ValueError, KeyError, TypeError):
                raise GraphError('GET /v1.0/domains answered without a "value" list')
            out.extend(item for item in values if isinstance(item, dict))
            url = page.get('@odata.nextLink')
            if not url:
                return out
            # The bearer token goes to Graph only, never to a host a page names.
            if not url.startswith(self.graph_url + '/'):
                raise GraphError('@odata.nextLink points outside %s: %s' % (self.graph_url, url.split('?')[0]))
        raise GraphError('GET /v1.0/domains returned more than %d pages' % MAX_PAGES)


def mail_domains(domains, verified_only=True):
    """Split Graph domain objects into (accepted, skipped): accepted have Email in supportedServices."""
    accepted, skipped = [], []
    for item in domains:
        name = item.get('id')
        services = item.get('supportedServices') or []
        if 'Email' not in services:
            skipped.append((name, 'Email is not among its supportedServices in Microsoft Graph'))
        elif verified_only and not item.get('isVerified'):
            skipped.append((name, 'not verified in the tenant (isVerified is false)'))
        else:
            accepted.append(item)
    return accepted, skipped
