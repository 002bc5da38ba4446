# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment:
    # The argument spec of these options: create_authoritative_argument_spec() in plugins/module_utils/argspec.py
    # (a unit test keeps the two equal).

    # Which DNS servers a module asks directly (recursion not desired), for example the primary a DNS
    # provider writes to: the deploy role's DNS checks.
    DOCUMENTATION = r'''
options:
  server:
    description:
      - Addresses (or names) of the DNS servers to ask directly, with recursion not desired - the servers a DNS
        provider writes to, for example an RFC 2136 primary on a port other than 53.
    type: list
    elements: str
    default: []
  port:
    description:
      - DNS port of the servers in O(server).
    type: int
    default: 53
requirements:
  - dnspython >= 2.6
'''
