# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small client for the PowerDNS Authoritative HTTP API (``/api/v1``) and record set comparison.

No Ansible imports. Only what the powerdns_record module needs: read a zone's record sets, replace or
delete one record set with a PATCH. Record content is compared the way PowerDNS stores it: TXT in
zone-file notation (read back with txt.unquote_txt), names absolute with a trailing dot.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    import requests
    HAS_REQUESTS = True
except ImportError:
    HAS_REQUESTS = False

from .txt import TxtError, quote_txt, unquote_txt

# Types whose content names a host: PowerDNS keeps it absolute, with the trailing dot.
_NAME_TYPES = ('CNAME', 'NS', 'PTR', 'DNAME')


class PowerDNSError(Exception):
    """A problem talking to the API, with a message that says what to check."""


def absolute_name(name, zone):
    """``name`` as an absolute name with a trailing dot; a name not ending in the zone is relative to it."""
    name = name.strip().lower()
    zone = zone.strip().lower().rstrip('.')
    if name in ('@', ''):
        return zone + '.'
    if name.endswith('.'):
        return name
    if name == zone or name.endswith('.' + zone):
        return name + '.'
    return '%s.%s.' % (name, zone)


def to_content(rtype, value):
    """A value as given to the module (TXT unquoted) in the notation PowerDNS stores."""
    rtype = rtype.upper()
    if rtype == 'TXT':
        return quote_txt(value)
    if rtype in _NAME_TYPES:
        return value.strip().lower().rstrip('.') + '.'
    return value.strip()


def from_content(rtype, content):
    """PowerDNS content as the module returns it (TXT unquoted, names with their trailing dot)."""
    rtype = rtype.upper()
    if rtype == 'TXT':
        try:
            return unquote_txt(content)
        except TxtError:
            return content
    if rtype in _NAME_TYPES:
        return content.strip().lower().rstrip('.') + '.'
    return content.strip()


def comparable(rtype, values):
    """The set of values in one notation, so that equal record sets compare equal."""
    return sorted(set(from_content(rtype, to_content(rtype, value)) for value in values))


class PowerDNSClient(object):
    def __init__(self, api_url, api_key, server_id='localhost', verify=True, timeout=10.0):
        if not HAS_REQUESTS:
            raise PowerDNSError('the Python library requests is required')
        self.base = api_url.rstrip('/')
        if not self.base.endswith('/api/v1'):
            self.base += '/api/v1'
        self.server_id = server_id
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update({'X-API-Key': api_key, 'Accept': 'application/json'})
        self.session.verify = verify

    def _zone_url(self, zone):
        return '%s/servers/%s/zones/%s' % (self.base, self.server_id, zone.rstrip('.') + '.')

    def _request(self, method, url, zone, **kwargs):
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise PowerDNSError('TLS error talking to the PowerDNS API at %s: %s; check api_url, validate_certs '
                                'and ca_path' % (self.base, exc))
        except requests.exceptions.RequestException as exc:
            raise PowerDNSError('cannot reach the PowerDNS API at %s: %s; check api_url and that the API '
                                'is enabled (api=yes, webserver-address, webserver-allow-from)' % (self.base, exc))
        if response.status_code in (401, 403):
            raise PowerDNSError('the PowerDNS API at %s refused the API key (HTTP %d); check api_key'
                                % (self.base, response.status_code))
        if response.status_code == 404 or (response.status_code == 422 and method == 'GET'):
            raise PowerDNSError('zone %s not found on PowerDNS server %s at %s (HTTP %d); check zone and server_id'
                                % (zone, self.server_id, self.base, response.status_code))
        if response.status_code >= 400:
            raise PowerDNSError('the PowerDNS API answered HTTP %d to %s %s: %s'
                                % (response.status_code, method, url, _api_error(response)))
        return response

    def get_rrset(self, zone, name, rtype):
        """``{'ttl': int, 'records': [content, ...]}`` of one record set, or None when it does not exist."""
        response = self._request('GET', self._zone_url(zone), zone)
        try:
            data = response.json()
        except ValueError:
            raise PowerDNSError('the PowerDNS API sent something that is not JSON for zone %s' % zone)
        for rrset in data.get('rrsets') or []:
            if rrset.get('name', '').lower() == name and rrset.get('type', '').upper() == rtype:
                records = [record['content'] for record in rrset.get('records') or [] if not record.get('disabled')]
                if records:
                    return {'ttl': rrset.get('ttl'), 'records': records}
        return None

    def replace_rrset(self, zone, name, rtype, ttl, contents):
        rrset = {'name': name, 'type': rtype, 'ttl': ttl, 'changetype': 'REPLACE',
                 'records': [{'content': content, 'disabled': False} for content in contents]}
        self._request('PATCH', self._zone_url(zone), zone, json={'rrsets': [rrset]})

    def delete_rrset(self, zone, name, rtype):
        rrset = {'name': name, 'type': rtype, 'changetype': 'DELETE'}
        self._request('PATCH', self._zone_url(zone), zone, json={'rrsets': [rrset]})


def _api_error(response):
    try:
        return response.json().get('error') or response.text[:300]
    except ValueError:
        return response.text[:300]
