# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # The argument spec of these options: create_resolver_argument_spec() in plugins/module_utils/argspec.py
    # (a unit test keeps the two equal).

    # How the audit reaches DNS and TLS servers: shared by every module that looks things up.
    DOCUMENTATION = r'''
options:
  nameservers:
    description:
      - Addresses of the DNS resolvers to use for B(every) lookup, including the policy host's and the MX hosts' addresses.
      - When empty, the system's resolvers (C(/etc/resolv.conf)) are used.
    type: list
    elements: str
    default: []
  dns_port:
    description:
      - UDP/TCP port of the resolvers in O(nameservers).
    type: int
    default: 53
  timeout:
    description:
      - Hard deadline in seconds for each network operation, including the whole policy download.
      - A server that trickles one byte a second is cut off at this deadline.
    type: float
    default: 10
  ca_path:
    description:
      - PEM bundle of CA certificates to trust for HTTPS and SMTP certificates.
      - When not set, the system trust store is used. Certificate checks are never switched off.
    type: path
'''
