# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The domain_list filter: a file's text as a list of domains, read as data (never as templates)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import yaml

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.utils.display import Display
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.mailsec.mta_sts.plugins.plugin_utils._domain_sources import (
    SourceError, parse_list, parse_text)

display = Display()


def domain_list(data, source='domain list'):
    """Domains from the text of a YAML/JSON list (strings or mappings with a domain key, or a mapping with a
    ``domains`` list, as an Exchange export holds them) or of a text file with one domain per line."""
    if not isinstance(data, (str, bytes)):
        raise AnsibleFilterError('domain_list expects the text of a file, got %s' % type(data).__name__)
    text = to_text(data)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        document = None
    try:
        if isinstance(document, (list, dict)):
            entries = parse_list(document)
        else:
            entries = parse_text(to_bytes(text))
    except SourceError as exc:
        raise AnsibleFilterError('%s: %s' % (source, exc))
    domains = []
    for entry in entries:
        if entry.get('problem'):
            display.warning('mailsec.mta_sts.domain_list: skipping %s of %s: %s' % (
                entry['where'], source, entry['problem']))
            continue
        domains.append(to_text(entry['domain']) if isinstance(entry['domain'], (str, bytes)) else entry['domain'])
    # Values from a file are data: a later task must never render them as templates.
    return wrap_var(domains)


class FilterModule(object):

    def filters(self):
        return {'domain_list': domain_list}
