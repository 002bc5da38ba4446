# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # The argument spec of these options: create_powerdns_argument_spec() in plugins/module_utils/argspec.py
    # (a unit test keeps the two equal).

    # How to reach and authenticate to the PowerDNS Authoritative HTTP API. Set these once with
    # module_defaults (see the deploy role) rather than in every task.
    DOCUMENTATION = r'''
options:
  api_url:
    description:
      - Base URL of the PowerDNS Authoritative HTTP API, for example V(http://127.0.0.1:8081).
      - The path C(/api/v1) is added when it is not part of the URL.
    type: str
    required: true
  api_key:
    description:
      - The API key (C(api-key) in C(pdns.conf)), sent in the C(X-API-Key) header.
      - Never logged or returned.
    type: str
    required: true
  server_id:
    description:
      - The server id in the API path; PowerDNS Authoritative always calls itself V(localhost).
    type: str
    default: localhost
  validate_certs:
    description:
      - Check the API's TLS certificate when O(api_url) uses HTTPS.
    type: bool
    default: true
  ca_path:
    description:
      - PEM bundle of CA certificates that sign the API's certificate, instead of the system trust store.
    type: path
  timeout:
    description:
      - Seconds to wait for each API request.
    type: float
    default: 10
requirements:
  - requests
'''
