# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters the deploy role uses to write DNS records: thin wrappers over module_utils/txt.py."""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.mailsec.mta_sts.plugins.module_utils.record import RecordError
from ansible_collections.mailsec.mta_sts.plugins.module_utils.txt import TxtError, provider_txt_value, render_tlsrpt_record


def txt_value(value, provider):
    """A TXT value (plain text) in the notation the DNS provider's module expects."""
    try:
        return provider_txt_value(to_text(value), to_text(provider))
    except TxtError as exc:
        raise AnsibleFilterError('txt_value: %s' % exc)


def tlsrpt_record(rua):
    """The TLS-RPT record (RFC 8460) for a list of rua URIs."""
    if isinstance(rua, str):
        rua = [rua]
    if not isinstance(rua, (list, tuple)):
        raise AnsibleFilterError('tlsrpt_record expects a list of mailto: or https: URIs')
    try:
        return render_tlsrpt_record([to_text(uri) for uri in rua])
    except RecordError as exc:
        raise AnsibleFilterError('tlsrpt_record: %s' % exc)


class FilterModule:
    def filters(self):
        return {'txt_value': txt_value, 'tlsrpt_record': tlsrpt_record}
