# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: domains
short_description: Accepted mail domains as inventory hosts, from lists, Exchange exports and Microsoft Graph
version_added: 0.1.0
author:
  - mailsec.mta_sts contributors (@mailsec)
description:
  - Turns a list of accepted domains into inventory hosts, one host per domain (lowercase A-label name),
    with C(ansible_connection=local), so that the audit playbook (C(ansible-playbook mailsec.mta_sts.audit))
    and AWX job slicing work on domains like on any other hosts.
  - "Reads any number of O(sources): a YAML list or a CSV file of domains, a text file with one domain per line,
    an Exchange export (C(Get-AcceptedDomain | ConvertTo-Json), from Exchange Server or Exchange Online), and the
    domains of a Microsoft 365 tenant from Microsoft Graph (C(GET /v1.0/domains))."
  - "Keeps each domain's Exchange type (C(Authoritative), C(InternalRelay), C(ExternalRelay)) in the host variable
    C(mailsec_mta_sts_domain_type). C(ConvertTo-Json) writes the type as text or, from the Exchange Management Shell,
    as the integer of the Exchange enum C(AcceptedDomainType) (C(0) Authoritative, C(1) ExternalRelay,
    C(2) InternalRelay); both are read."
  - "Groups the hosts by source (C(source_<name>)), by type (C(type_authoritative), C(type_internalrelay),
    C(type_externalrelay)) and by tag (C(tag_<tag>)); O(compose), O(groups) and O(keyed_groups) add more."
  - "Skips C(*.onmicrosoft.com) by default: those are Microsoft's own initial domains, whose DNS the tenant
    cannot change, so no MTA-STS record can be published for them. Every skipped domain is listed, with the
    reason, in the variable C(mailsec_mta_sts_skipped_domains) of the group C(all)."
  - The inventory source is either a YAML configuration file (C(plugin=mailsec.mta_sts.domains)) or, when this
    plugin is enabled (C(ANSIBLE_INVENTORY_ENABLED=mailsec.mta_sts.domains)), an Exchange JSON export, a CSV file or a
    text file given directly with C(-i).
  - Every value read from a source is marked unsafe, so it is never rendered as a template.
  - "An item of a source that cannot be read (an Exchange object without C(DomainName), a row with an unknown type, a
    name that is not a domain) is skipped with a warning naming it, and the rest of the source is read. A source of
    which nothing can be read (not JSON, a truncated export, no domain column) fails with a message naming the file."
  - "The group C(all) gets the variable C(mailsec_mta_sts_inventory_sources), the sources read and how many domains
    each gave (C(path), C(hosts)): the audit playbook fails when a source gave none or could not be parsed."
notes:
  - The Graph source is tested against a local HTTPS server that speaks the documented shapes of
    C(POST /<tenant>/oauth2/v2.0/token) and C(GET /v1.0/domains), not against Microsoft's service.
  - "The Graph app registration needs the application permission C(Domain.Read.All) with admin consent. Only domains
    whose C(supportedServices) include C(Email) are read; unverified domains are skipped unless
    O(sources[].verified_only=false)."
requirements:
  - requests (for the Graph source)
extends_documentation_fragment:
  - constructed
options:
  plugin:
    description: The name of this plugin; makes a YAML file a configuration of this plugin.
    type: str
    required: true
    choices: [mailsec.mta_sts.domains]
  sources:
    description: Where the accepted domains come from. A domain named by several sources is one host in each source's group.
    type: list
    elements: dict
    default: []
    suboptions:
      type:
        description:
          - V(list) - a YAML or JSON list of domains (strings, or mappings with C(domain), C(type), C(tags), C(default)),
            or a mapping with such a list under C(domains).
          - V(csv) - a CSV file with a header row naming a C(domain) (or C(DomainName)) column, optional C(type) (or
            C(DomainType)), C(tags) (separated by C(;) or spaces) and C(default) columns; without such a header the first
            column is the domain. C(Get-AcceptedDomain | Export-Csv) output is read as well.
          - V(text) - one domain per line; C(#) starts a comment.
          - V(exchange) - the JSON of C(Get-AcceptedDomain | ConvertTo-Json) (UTF-8 or UTF-16 with byte order mark,
            one object or a list).
          - V(graph) - the verified domains of a Microsoft 365 tenant that support Email, from Microsoft Graph.
          - When not set, the type follows the file name - C(.csv) V(csv), C(.txt) V(text), C(.json) V(exchange)
            when the objects have a C(DomainName), else V(list).
        type: str
        choices: [list, csv, text, exchange, graph]
      path:
        description:
          - The file to read, for every type but V(graph). Relative paths are relative to the configuration file.
        type: path
      domains:
        description: Domains given inline, instead of O(sources[].path) (type V(list)).
        type: list
        elements: raw
      name:
        description:
          - Name of the source, for the group C(source_<name>) and the host variable C(mailsec_mta_sts_sources).
          - Defaults to the file name without extension, V(graph) for Microsoft Graph and V(inline) for O(sources[].domains).
        type: str
      tags:
        description: Tags given to every domain of this source (groups C(tag_<tag>)).
        type: list
        elements: str
        default: []
      tenant_id:
        description:
          - Graph - the tenant (directory) id or a verified domain of the tenant.
          - Defaults to the environment variable E(MAILSEC_MTA_STS_GRAPH_TENANT_ID), then E(AZURE_TENANT).
        type: str
      client_id:
        description:
          - Graph - the application (client) id of the app registration.
          - Defaults to E(MAILSEC_MTA_STS_GRAPH_CLIENT_ID), then E(AZURE_CLIENT_ID).
        type: str
      client_secret:
        description:
          - Graph - a client secret of the app registration. Prefer the environment variable
            E(MAILSEC_MTA_STS_GRAPH_CLIENT_SECRET) (then E(AZURE_SECRET)) to a secret in a file.
        type: str
      login_url:
        description: Graph - the identity platform's address (national clouds differ).
        type: str
        default: https://login.microsoftonline.com
      graph_url:
        description: Graph - the Microsoft Graph address (national clouds differ).
        type: str
        default: https://graph.microsoft.com
      scope:
        description: Graph - the scope asked for in the client credentials grant.
        type: str
        default: https://graph.microsoft.com/.default
      ca_path:
        description: Graph - a PEM bundle of CA certificates to trust instead of the system store.
        type: path
      timeout:
        description: Graph - seconds to wait for each HTTP answer.
        type: float
        default: 30
      verified_only:
        description: Graph - skip domains that are not verified in the tenant.
        type: bool
        default: true
  domain_types:
    description:
      - Only domains of these Exchange types become hosts; the others are listed as skipped.
      - Domains without a type (lists, CSV without a type column, Graph) are always kept.
    type: list
    elements: str
    choices: [Authoritative, InternalRelay, ExternalRelay]
    default: [Authoritative, InternalRelay, ExternalRelay]
  skip_onmicrosoft:
    description:
      - Skip C(onmicrosoft.com) and its subdomains (the tenant's initial domains, whose DNS Microsoft operates).
    type: bool
    default: true
  skip:
    description:
      - More domains to skip, as shell patterns (C(*.test), C(legacy-*.example.org)), matched against the lowercase
        A-label name.
    type: list
    elements: str
    default: []
  warn_skipped:
    description:
      - Show a warning for each skipped domain. Domains that are not domain names are always warned about.
    type: bool
    default: false
'''

EXAMPLES = r'''
# accepted-domains.mta_sts.yml - ansible-inventory -i accepted-domains.mta_sts.yml --graph
plugin: mailsec.mta_sts.domains
sources:
  - name: exchange
    type: exchange
    path: exports/accepted-domains.json      # Get-AcceptedDomain | ConvertTo-Json > accepted-domains.json
  - name: parked
    path: parked-domains.csv
    tags: [parked]
  - name: extra
    domains: [example.org, example.net]
domain_types: [Authoritative, InternalRelay]
keyed_groups:
  - key: mailsec_mta_sts_domain_type | default('none', true) | lower
    prefix: exchange

---
# m365.mta_sts.yml - the tenant's mail domains from Microsoft Graph; the secret comes from
# MAILSEC_MTA_STS_GRAPH_CLIENT_SECRET (an AWX credential injects it).
plugin: mailsec.mta_sts.domains
sources:
  - name: m365
    type: graph
    tenant_id: contoso.onmicrosoft.com
    client_id: 00000000-0000-0000-0000-000000000000

# An Exchange export used directly as inventory:
#   ANSIBLE_INVENTORY_ENABLED=mailsec.mta_sts.domains ansible-inventory -i accepted-domains.json --list
'''

import fnmatch
import os
import re

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable
from ansible.utils.display import Display
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.mailsec.mta_sts.plugins.module_utils.domain import DomainError, normalize_domain
from ansible_collections.mailsec.mta_sts.plugins.module_utils.graph import GraphClient, GraphError, mail_domains
from ansible_collections.mailsec.mta_sts.plugins.plugin_utils._domain_sources import (
    SourceError, decode_text, guess_type, looks_like_exchange, mentions_exchange, parse_csv, parse_exchange,
    parse_list, parse_text)

display = Display()

PLUGIN_NAME = 'mailsec.mta_sts.domains'
ONMICROSOFT_REASON = ('Microsoft-managed initial domain (*.onmicrosoft.com): the tenant cannot publish DNS records '
                      'there, so MTA-STS cannot be deployed for it')
DATA_EXTENSIONS = ('.json', '.csv', '.txt')


def _is_our_config(path):
    try:
        with open(path, 'rb') as handle:
            head = handle.read(65536).decode('utf-8', 'replace')
    except OSError:
        return False
    return re.search(r'^plugin:\s*["\']?%s["\']?\s*$' % re.escape(PLUGIN_NAME), head, re.M) is not None


def skip_reason(domain, skip_onmicrosoft, patterns):
    if skip_onmicrosoft and (domain == 'onmicrosoft.com' or domain.endswith('.onmicrosoft.com')):
        return ONMICROSOFT_REASON
    for pattern in patterns:
        if fnmatch.fnmatchcase(domain, pattern.lower()):
            return 'matches the skip pattern %s' % pattern
    return None


def group_name(prefix, value):
    return '%s_%s' % (prefix, re.sub(r'[^a-z0-9_]', '_', str(value).lower()).strip('_') or 'none')


class InventoryModule(BaseInventoryPlugin, Constructable):

    NAME = PLUGIN_NAME

    def verify_file(self, path):
        if not super(InventoryModule, self).verify_file(path):
            return False
        lower = path.lower()
        if lower.endswith(('.yml', '.yaml')):
            return _is_our_config(path)
        if lower.endswith(DATA_EXTENSIONS):
            try:
                with open(path, 'rb') as handle:
                    data = handle.read()
            except OSError:
                return False
            if lower.endswith('.json'):
                # A truncated export is still ours: parse() then says what is wrong with it.
                return looks_like_exchange(data) or mentions_exchange(data)
            if lower.endswith('.txt'):
                entries = parse_text(data) if data else []
                return bool(entries) and all(_valid(entry['domain']) for entry in entries)
            return True
        return False

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        if path.lower().endswith(('.yml', '.yaml')):
            self._read_config_data(path)
            sources = self.get_option('sources')
            base = os.path.dirname(os.path.abspath(path))
        else:
            self.set_options(direct={'plugin': PLUGIN_NAME})
            sources = [{'path': path}]
            base = os.path.dirname(os.path.abspath(path))
        if not sources:
            raise AnsibleParserError('%s: no sources; add at least one under "sources:"' % to_native(path))
        hosts = {}
        skipped = []
        for position, source in enumerate(sources):
            source = self._source_defaults(source, position, base)
            try:
                entries, source_skipped = self._read_source(source)
            except (SourceError, GraphError, OSError) as exc:
                raise AnsibleParserError('%s: source %s: %s' % (to_native(path), source['name'], to_native(exc)))
            skipped.extend(source_skipped)
            for entry in entries:
                self._collect(hosts, skipped, entry, source)
        self._populate(hosts, skipped)
        # Which sources this plugin read, and how many domains each gave: the audit playbook fails on a source
        # that gave none, or that Ansible could not parse (it only warns about those).
        all_vars = self.inventory.groups['all'].get_vars()
        parsed = list(all_vars.get('mailsec_mta_sts_inventory_sources') or [])
        parsed.append({'path': to_text(os.path.abspath(path)), 'hosts': len(hosts)})
        self.inventory.set_variable('all', 'mailsec_mta_sts_inventory_sources', wrap_var(parsed))

    # -- sources ----------------------------------------------------------------------------------

    def _source_defaults(self, source, position, base):
        source = dict(source or {})
        source.setdefault('tags', [])
        if source.get('path'):
            source['path'] = os.path.join(base, os.path.expanduser(source['path']))
        if not source.get('type'):
            if source.get('path'):
                source['type'] = guess_type(source['path'], _read(source['path']))
            elif source.get('domains') is not None:
                source['type'] = 'list'
            else:
                raise AnsibleParserError('source %d has neither path nor domains; set type: graph for Microsoft Graph'
                                         % position)
        if not source.get('name'):
            if source.get('path'):
                source['name'] = os.path.splitext(os.path.basename(source['path']))[0]
            else:
                source['name'] = 'graph' if source['type'] == 'graph' else 'inline'
        return source

    def _read_source(self, source):
        kind = source['type']
        if kind == 'graph':
            return self._read_graph(source)
        if kind == 'list' and source.get('domains') is not None:
            return parse_list(source['domains']), []
        if not source.get('path'):
            raise SourceError('type %s needs path' % kind)
        data = _read(source['path'])
        where = source['path']
        try:
            if kind == 'exchange':
                return parse_exchange(data), []
            if kind == 'csv':
                return parse_csv(data), []
            if kind == 'text':
                return parse_text(data), []
            return parse_list(self.loader.load(decode_text(data), file_name=where)), []
        except SourceError as exc:
            raise SourceError('%s: %s' % (where, exc))

    def _read_graph(self, source):
        env = os.environ
        client = GraphClient(
            tenant_id=source.get('tenant_id') or env.get('MAILSEC_MTA_STS_GRAPH_TENANT_ID') or env.get('AZURE_TENANT'),
            client_id=source.get('client_id') or env.get('MAILSEC_MTA_STS_GRAPH_CLIENT_ID') or env.get('AZURE_CLIENT_ID'),
            client_secret=(source.get('client_secret') or env.get('MAILSEC_MTA_STS_GRAPH_CLIENT_SECRET')
                           or env.get('AZURE_SECRET')),
            login_url=source.get('login_url') or 'https://login.microsoftonline.com',
            graph_url=source.get('graph_url') or 'https://graph.microsoft.com',
            scope=source.get('scope') or 'https://graph.microsoft.com/.default',
            timeout=float(source.get('timeout') or 30),
            verify=source.get('ca_path') or True)
        accepted, skipped = mail_domains(client.domains(), source.get('verified_only', True) is not False)
        entries = [{'domain': item.get('id'), 'default': bool(item.get('isDefault')),
                    'initial': bool(item.get('isInitial')), 'graph': {
                        'authenticationType': item.get('authenticationType'), 'isVerified': item.get('isVerified'),
                        'supportedServices': item.get('supportedServices') or []}}
                   for item in accepted]
        return entries, [{'domain': name, 'source': source['name'], 'reason': reason} for name, reason in skipped]

    # -- hosts ------------------------------------------------------------------------------------

    def _collect(self, hosts, skipped, entry, source):
        given = entry.get('domain')
        if entry.get('problem'):
            # One bad item is skipped, by name, and the rest of the source is read.
            reason = 'cannot be read: %s' % entry['problem']
            display.warning('mailsec.mta_sts.domains: skipping %s of source %s: %s' % (
                entry.get('where'), source['name'], entry['problem']))
            skipped.append({'domain': to_text(given) if given else None, 'source': source['name'], 'reason': reason})
            return
        if isinstance(given, str) and given.startswith('*.'):
            # An accepted domain with subdomains (Exchange "*.example.org"): the policy host is per domain.
            entry = dict(entry, domain=given[2:], match_subdomains=True)
        try:
            domain = normalize_domain(entry.get('domain'))
        except DomainError as exc:
            reason = 'not a domain name: %s' % exc
            display.warning('mailsec.mta_sts.domains: skipping %r from source %s: %s' % (given, source['name'], reason))
            skipped.append({'domain': to_text(given), 'source': source['name'], 'reason': reason})
            return
        reason = skip_reason(domain, self.get_option('skip_onmicrosoft'), self.get_option('skip'))
        if reason is None and entry.get('type') and entry['type'] not in self.get_option('domain_types'):
            reason = 'Exchange type %s is not in domain_types' % entry['type']
        if reason is not None:
            skipped.append({'domain': domain, 'source': source['name'], 'reason': reason})
            return
        host = hosts.get(domain)
        if host is None:
            host = hosts[domain] = {'mailsec_mta_sts_domain': domain, 'mailsec_mta_sts_input': to_text(given),
                                    'mailsec_mta_sts_sources': [], 'mailsec_mta_sts_domain_type': None,
                                    'mailsec_mta_sts_default': False, 'mailsec_mta_sts_tags': []}
        if source['name'] not in host['mailsec_mta_sts_sources']:
            host['mailsec_mta_sts_sources'].append(source['name'])
        if entry.get('type') and not host['mailsec_mta_sts_domain_type']:
            host['mailsec_mta_sts_domain_type'] = entry['type']
        host['mailsec_mta_sts_default'] = host['mailsec_mta_sts_default'] or bool(entry.get('default'))
        for tag in list(source.get('tags') or []) + list(entry.get('tags') or []):
            if tag not in host['mailsec_mta_sts_tags']:
                host['mailsec_mta_sts_tags'].append(tag)
        for key in ('match_subdomains', 'name', 'graph'):
            if entry.get(key) not in (None, False):
                host['mailsec_mta_sts_%s' % ('exchange_name' if key == 'name' else key)] = entry[key]

    def _populate(self, hosts, skipped):
        strict = self.get_option('strict')
        for domain in sorted(hosts):
            hostvars = hosts[domain]
            self.inventory.add_host(domain)
            self.inventory.set_variable(domain, 'ansible_connection', 'local')
            for key, value in hostvars.items():
                # Values from files and APIs are data: never templates.
                self.inventory.set_variable(domain, key, wrap_var(value))
            for source_name in hostvars['mailsec_mta_sts_sources']:
                self.inventory.add_child(self.inventory.add_group(group_name('source', source_name)), domain)
            if hostvars['mailsec_mta_sts_domain_type']:
                self.inventory.add_child(
                    self.inventory.add_group(group_name('type', hostvars['mailsec_mta_sts_domain_type'])), domain)
            for tag in hostvars['mailsec_mta_sts_tags']:
                self.inventory.add_child(self.inventory.add_group(group_name('tag', tag)), domain)
            variables = self.inventory.get_host(domain).get_vars()
            self._set_composite_vars(self.get_option('compose'), variables, domain, strict=strict)
            self._add_host_to_composed_groups(self.get_option('groups'), variables, domain, strict=strict)
            self._add_host_to_keyed_groups(self.get_option('keyed_groups'), variables, domain, strict=strict)
        earlier = list(self.inventory.groups['all'].get_vars().get('mailsec_mta_sts_skipped_domains') or [])
        self.inventory.set_variable('all', 'mailsec_mta_sts_skipped_domains', wrap_var(earlier + skipped))
        for item in skipped:
            if self.get_option('warn_skipped'):
                display.warning('mailsec.mta_sts.domains: skipping %s (%s): %s' % (
                    item['domain'], item['source'], item['reason']))
            else:
                display.vv('mailsec.mta_sts.domains: skipping %s (%s): %s' % (
                    item['domain'], item['source'], item['reason']))


def _read(path):
    with open(path, 'rb') as handle:
        return handle.read()


def _valid(value):
    try:
        normalize_domain(value)
    except DomainError:
        return False
    return True
