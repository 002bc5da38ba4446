# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment(object):

    # The standard attributes of this collection's modules.
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
'''

    # Modules with an action plugin of the same name that runs on the controller.
    ACTION = r'''
options: {}
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
'''

    # Modules that only read: no change, nothing to diff, the same in check mode.
    READ_ONLY = r'''
options: {}
attributes:
  check_mode:
    support: full
    details: The module only reads, so it runs the same in check mode.
  diff_mode:
    support: N/A
    details: The module changes nothing.
  idempotent:
    support: full
'''

    # Members of the action group mailsec.mta_sts.mta_sts (meta/runtime.yml).
    ACTIONGROUP_MTA_STS = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/mailsec.mta_sts.mta_sts) in C(module_defaults) to set the resolver and TLS options
      (O(nameservers), O(dns_port), O(timeout), O(ca_path)) of every module of the group once.
    support: full
    membership:
      - mailsec.mta_sts.mta_sts
'''

    # Members of the action group mailsec.mta_sts.powerdns (meta/runtime.yml).
    ACTIONGROUP_POWERDNS = r'''
options: {}
attributes:
  action_group:
    description: Use C(group/mailsec.mta_sts.powerdns) in C(module_defaults) to set the PowerDNS API options
      (O(api_url), O(api_key), O(server_id), O(validate_certs), O(ca_path), O(timeout)) once.
    support: full
    membership:
      - mailsec.mta_sts.powerdns
'''
