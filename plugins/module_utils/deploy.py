# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy role's decisions, as plain functions (the role's filters call them; unit tested).

No Ansible imports. Each function takes what a task has at hand (an inventory entry, the audit's result,
role settings, a failed task's result) and returns plain data for the next task.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2
    from urlparse import urlsplit

MODES = ('testing', 'enforce', 'none')
WEB_TARGETS = ('nginx', 'apache', 'static')
CERT_SOURCES = ('files', 'acme')
DNS_PROVIDERS = ('nsupdate', 'route53', 'powerdns', 'cloudflare', 'azure', 'google', 'hetzner')
# The role's stages in their order; tags of the same names select them (propagate runs under announce).
STAGES = ('preflight', 'publish', 'verify', 'announce', 'propagate', 'remove')  # remove: the end of an opt-out

# What each provider's preflight try checks, in words for task names.
PROVIDER_CREDENTIALS = {
    'nsupdate': 'the TSIG key', 'route53': 'the AWS credentials', 'powerdns': 'the API key',
    'cloudflare': 'the API token', 'azure': 'the Azure credentials', 'google': 'the Google credentials',
    'hetzner': 'the API token',
}
# Providers whose records live on a DNS server the role can ask directly (zone, propagation).
SERVER_PROVIDERS = ('nsupdate', 'powerdns')

# Entry key -> role-wide setting it overrides (the settings dict the role passes holds these keys).
_OVERRIDES = ('mode', 'max_age', 'mx', 'tlsrpt_rua', 'enforce_override', 'web_target', 'web_addresses',
              'policy_host_cname', 'cert_source', 'dns_provider', 'nginx_extra_directives', 'apache_extra_directives')
_TRUE = ('1', 'true', 'yes', 'on', 'y', 't')
_POLICY_MODE = re.compile(r'(?m)^mode:[ ]*([a-z]+)')


class DeployError(Exception):
    pass


def to_bool(value):
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in _TRUE


def _get(mapping, *path, **kw):
    """mapping[path...] where every step may be missing or None; ``default`` otherwise."""
    value = mapping
    for key in path:
        if not isinstance(value, dict):
            return kw.get('default')
        value = value.get(key)
        if value is None:
            return kw.get('default')
    return value


def _given(entry, key):
    return key in entry and entry[key] is not None


def settle_entry(entry, live, settings):
    """What to deploy for one entry of mailsec_mta_sts_deploy_domains: the entry over the role's settings.

    ``live`` is the audit's result for the entry's domain (``input`` equal to the entry's domain), ``settings``
    the role-wide values (keys of _OVERRIDES plus web_root, cert_dir, dns_ttl).
    """
    if not isinstance(entry, dict) or not entry.get('domain'):
        raise DeployError('every entry of mailsec_mta_sts_deploy_domains needs a domain, got %r' % (entry,))
    live = live or {}
    values = dict((key, entry[key] if _given(entry, key) else settings.get(key)) for key in _OVERRIDES)
    domain = live.get('domain') or ''
    mx_outcome = _get(live, 'mx', 'outcome', default='not looked up')
    implicit = to_bool(_get(live, 'mx', 'implicit', default=False))
    live_mx = [host['host'] for host in _get(live, 'mx', 'hosts', default=[]) if host.get('host')]
    if not live_mx and implicit and domain:
        live_mx = [domain]  # RFC 5321 section 5.1: no MX, the domain itself is the implicit MX
    live_id = _get(live, 'record', 'id', default='') or ''
    web_root = settings.get('web_root') or ''
    cert_dir = settings.get('cert_dir') or ''
    zone = entry['zone'] if _given(entry, 'zone') else domain
    return {
        'domain': domain,
        'input': entry['domain'],
        'policy_host': 'mta-sts.%s' % domain if domain else '',
        'mode': values['mode'],
        'max_age': int(values['max_age']),
        'mx': list(values['mx'] or []),
        'tlsrpt_rua': list(values['tlsrpt_rua'] or []),
        'live_mx_known': mx_outcome == 'answer' or implicit,
        'live_mx': live_mx,
        'live_mx_outcome': mx_outcome,
        'null_mx': to_bool(_get(live, 'mx', 'null_mx', default=False)),
        'published_sts': list(_get(live, 'record', 'txt', default=[])),
        'published_tlsrpt': list(_get(live, 'tlsrpt', 'txt', default=[])),
        # The live policy as senders see it: the mode of the policy served, when a valid record announces one.
        'live_id': live_id,
        'live_mode': (_get(live, 'policy', 'mode', default='') or '') if live_id else '',
        'enforce_override': to_bool(values['enforce_override']),
        'web_target': values['web_target'],
        'web_addresses': list(values['web_addresses'] or []),
        'policy_host_cname': values['policy_host_cname'] or '',
        'docroot': entry['web_root'] if _given(entry, 'web_root') else '%s/%s' % (web_root, domain),
        'acme_webroot': '%s/.acme/%s' % (web_root, domain),
        'cert_source': values['cert_source'],
        'cert_path': entry['cert_path'] if _given(entry, 'cert_path') else '%s/mta-sts.%s.crt' % (cert_dir, domain),
        'key_path': entry['key_path'] if _given(entry, 'key_path') else '%s/mta-sts.%s.key' % (cert_dir, domain),
        'csr_path': '%s/mta-sts.%s.csr' % (cert_dir, domain),
        'dns_provider': values['dns_provider'],
        'zone': zone,
        # False: the zone is to be found (zone_info) before anything changes.
        'zone_given': _given(entry, 'zone'),
        'ttl': int(entry['dns_ttl'] if _given(entry, 'dns_ttl') else settings.get('dns_ttl')),
        'google_managed_zone': (entry['google_managed_zone'] if _given(entry, 'google_managed_zone')
                                else zone.replace('.', '-')),
        'nginx_extra_directives': list(values['nginx_extra_directives'] or []),
        'apache_extra_directives': list(values['apache_extra_directives'] or []),
    }


def entry_problem(settled):
    """Why the settled entry cannot get a policy, or '' (the first check of preflight)."""
    if not settled.get('domain'):
        return '%s: it is not a domain name' % settled.get('input')
    if settled.get('null_mx'):
        return '%s: it publishes a null MX (RFC 7505) and accepts no mail, so it needs no policy' % settled['input']
    wrong = []
    for key, allowed in (('mode', MODES), ('web_target', WEB_TARGETS), ('cert_source', CERT_SOURCES),
                         ('dns_provider', DNS_PROVIDERS)):
        if settled.get(key) not in allowed:
            wrong.append('%s must be %s, not %r' % (key, ' or '.join(allowed), settled.get(key)))
    zone = (settled.get('zone') or '').rstrip('.').lower()
    domain = settled['domain'].lower()
    if settled.get('zone_given') and not (domain == zone or domain.endswith('.' + zone)):
        wrong.append('zone %s does not hold %s; set zone to the zone the domain is in' % (zone, domain))
    return ('%s: %s' % (settled['input'], '; '.join(wrong))) if wrong else ''


def policy_file_mode(content):
    """The mode a policy file's text declares (RFC 8461 section 3.2), or ''."""
    found = _POLICY_MODE.findall(content or '')
    return found[0] if found else ''


def switches_to_enforce(settled, policy_file_content=''):
    """Whether this run switches the domain to enforce: the live policy (or the file senders hold) is not enforce."""
    if settled.get('mode') != 'enforce':
        return False
    return (settled.get('live_mode') or policy_file_mode(policy_file_content)) != 'enforce'


def enforce_blockers(blockers, settled, uncovered):
    """The audit's blockers that keep the switch to enforce; an uncovered live MX host the new policy covers is none."""
    blockers = list(blockers or [])
    if settled.get('live_mx_known') and not uncovered:
        return [blocker for blocker in blockers if blocker.get('code') != 'mx-not-covered']
    return blockers


def blocker_lines(blockers, indent=''):
    """The blockers as 'code: message' lines, for messages."""
    return ['%s%s: %s' % (indent, blocker.get('code'), blocker.get('message')) for blocker in blockers or []]


def _address_records(settled):
    host = settled['policy_host']
    if settled.get('policy_host_cname'):
        return [{'name': host, 'type': 'CNAME', 'entries': [settled['policy_host_cname']]}]
    addresses = settled.get('web_addresses') or []
    ipv4 = [address for address in addresses if ':' not in address]
    ipv6 = [address for address in addresses if ':' in address]
    return ([{'name': host, 'type': 'A', 'entries': ipv4}] if ipv4 else []) + \
        ([{'name': host, 'type': 'AAAA', 'entries': ipv6}] if ipv6 else [])


def policy_host_records(settled):
    """The address records of mta-sts.<domain>: a CNAME, or A and AAAA from the web server's addresses."""
    return _address_records(settled)


def sts_record(settled, record):
    """The _mta-sts TXT record of the domain with the new value (RFC 8461 section 3.1)."""
    return {'name': '_mta-sts.%s' % settled['domain'], 'type': 'TXT', 'entries': [record]}


def announce_plan(settled, record, tlsrpt_value=''):
    """The DNS records of a domain in the order they are written (the _mta-sts id last) and the TXT waits.

    RFC 8461 section 3.1: a new id tells senders to fetch the policy, so it comes after everything it refers to.
    """
    tlsrpt = []
    waits = []
    if settled.get('tlsrpt_rua') and tlsrpt_value:
        name = '_smtp._tls.%s' % settled['domain']
        tlsrpt = [{'name': name, 'type': 'TXT', 'entries': [tlsrpt_value]}]
        waits.append({'name': name, 'values': [tlsrpt_value]})
    sts = sts_record(settled, record)
    waits.append({'name': sts['name'], 'values': sts['entries']})
    return {'records': _address_records(settled) + tlsrpt + [sts], 'waits': waits}


def txt_changes(settled, plan):
    """(name, before, after) of the TXT records that change, for --diff (most provider modules give none)."""
    changes = [('_mta-sts.%s' % settled['domain'], settled.get('published_sts') or [], plan['waits'][-1]['values'])]
    after = [value for wait in plan['waits'][:-1] for value in wait['values']]
    changes.append(('_smtp._tls.%s' % settled['domain'], settled.get('published_tlsrpt') or [], after))
    return [{'name': name, 'before': before, 'after': after} for name, before, after in changes
            if after and sorted(before) != sorted(after)]


def dns_call(provider, purpose):
    """How the provider task runs: ``check`` (preflight try), ``probe`` (read back after a failure) or ``apply``.

    ``report_changed``: whether the module's "changed" is reported (a check-mode try changes nothing; a probe keeps
    the module's "would change", it says whether the record already holds the value).
    """
    if purpose not in ('check', 'probe', 'apply'):
        raise DeployError('dns_call purpose must be check, probe or apply, not %r' % (purpose,))
    verb = {'check': 'Check %s with' % PROVIDER_CREDENTIALS.get(provider, 'the credentials'),
            'probe': 'Read back', 'apply': 'Ensure'}[purpose]
    return {'purpose': purpose, 'verb': verb, 'check_mode': purpose != 'apply',
            'report_changed': purpose in ('apply', 'probe')}


def probe_says_announced(results):
    """After a failed DNS step: the provider holds the new id when its check-mode run would change nothing."""
    results = results or []
    return bool(results) and not any(item.get('changed') for item in results) and \
        not any(item.get('skipped') for item in results)


def relative_name(name, zone):
    """NAME relative to ZONE ('@' for the apex), for providers that want a prefix."""
    name = name.rstrip('.').lower()
    zone = zone.rstrip('.').lower()
    if name == zone:
        return '@'
    if name.endswith('.' + zone):
        return name[:-len(zone) - 1]
    raise DeployError('%s is not inside zone %s; set zone in the entry to the zone that holds it' % (name, zone))


def provider_dns_servers(provider, nsupdate=None, powerdns=None, wait_nameservers=None, wait_port=0):
    """The DNS servers that hold what the provider writes, to find zones and wait for records there.

    ``servers`` empty: ask the zone's authoritative servers (NS records through the resolver). ``setting`` names
    what a user sets when these servers are wrong.
    """
    wait_port = int(wait_port or 0)
    if wait_nameservers:
        return {'servers': list(wait_nameservers), 'port': wait_port or 53,
                'source': 'mailsec_mta_sts_dns_wait_nameservers',
                'setting': 'mailsec_mta_sts_dns_wait_nameservers and mailsec_mta_sts_dns_wait_port'}
    if provider == 'nsupdate' and (nsupdate or {}).get('server'):
        return {'servers': [nsupdate['server']], 'port': int(nsupdate.get('port') or wait_port or 53),
                'source': 'the RFC 2136 server of mailsec_mta_sts_nsupdate',
                'setting': 'server and port in mailsec_mta_sts_nsupdate, or mailsec_mta_sts_dns_wait_nameservers '
                           'and mailsec_mta_sts_dns_wait_port'}
    if provider == 'powerdns' and (powerdns or {}).get('api_url'):
        host = urlsplit(powerdns['api_url']).hostname
        if host:
            return {'servers': [host], 'port': wait_port or 53,
                    'source': 'the PowerDNS server of mailsec_mta_sts_powerdns.api_url',
                    'setting': 'mailsec_mta_sts_dns_wait_port (the DNS port of PowerDNS), or '
                               'mailsec_mta_sts_dns_wait_nameservers'}
    return {'servers': [], 'port': wait_port or 53, 'source': 'the authoritative servers of the zone (its NS records)',
            'setting': 'mailsec_mta_sts_dns_wait_nameservers and mailsec_mta_sts_dns_wait_port'}


def wait_hint(servers):
    """What to set when the DNS wait cannot ask the servers that hold the records."""
    return 'set %s to servers that answer for the zone, or mailsec_mta_sts_dns_wait to false' % servers['setting']


def failure_reason(failed_task, failed_result, stage, provider_hint=''):
    """One line saying why a domain's block failed, from ansible_failed_task and ansible_failed_result."""
    failed_task = failed_task or {}
    failed_result = failed_result or {}
    self_explaining = ('ansible.builtin.fail', 'ansible.builtin.assert', 'fail', 'assert')
    parts = [failed_result.get(key) for key in ('msg', 'problem', 'error', 'stderr')]
    for item in failed_result.get('results') or []:
        if not isinstance(item, dict) or not item.get('failed'):
            continue
        loop_item = item.get('item')
        prefix = ''
        if isinstance(loop_item, dict) and loop_item.get('name') is not None:
            prefix = '%s %s: ' % (loop_item.get('name'), loop_item.get('type'))
        rcode = (' (DNS answer %s)' % item['dns_rc_str']) if item.get('dns_rc_str') is not None else ''
        parts.append(prefix + str(item.get('msg') or 'failed') + rcode)
    lines = []
    for part in parts:
        text = str(part).strip() if part else ''
        if text and text != 'One or more items failed' and text not in lines:
            lines.append(text)
    reason = ' - '.join(lines) or 'failed'
    if stage == 'announce' and provider_hint:
        reason += ' (%s)' % provider_hint
    action = failed_task.get('action')
    if action in self_explaining or not failed_task.get('name'):
        return reason
    return '%s: %s' % (failed_task['name'], reason)


def failure_outcome(stage, changed_here, id_announced, served_is_announced):
    """What the role did about a failed domain, and what senders see (the rollback promise of tasks/domain.yml)."""
    if stage == 'preflight':
        return 'nothing was changed'
    if stage == 'publish':
        return 'the previous web configuration and policy were restored, DNS was not touched'
    if stage == 'remove':
        return ('the opt-out stopped part-way through removing the records and the policy host (mode none was '
                'announced long enough before); run again to finish it')
    if stage == 'propagate':
        return ('DNS announces the new policy id and the new policy is served, but not every authoritative server '
                'answered it in time')
    if changed_here and not id_announced:
        return ('DNS did not take the new policy id, so the previous web configuration and policy were restored and '
                'match the id DNS still announces; other records may be updated')
    if changed_here:
        return 'DNS already announces the new policy id, so the new policy keeps serving; other records may be partly updated'
    if served_is_announced:
        return 'the policy served was in place before this run and DNS announces it; other records may be partly updated'
    return ('the policy served was in place before this run, but DNS does not announce its id yet: rerun once the DNS '
            'provider works')


def needs_rollback(stage, id_announced):
    """Put the previous virtual host and policy back: after publish, or announce when DNS kept the old id."""
    return stage == 'publish' or (stage == 'announce' and not id_announced)


def failure_line(domain, stage, outcome, reason):
    """The line the role reports at the end for a domain that was not deployed."""
    return '%s (%s, %s): %s' % (domain, stage, outcome, reason)


def audit_failure_lines(audited):
    """The domains the audit after the deployment does not pass, as failure entries."""
    failures = []
    for item in audited or []:
        if item.get('status') in ('pass', 'skipped'):
            continue
        codes = ', '.join(finding.get('code') for finding in item.get('findings') or []
                          if finding.get('severity') == 'error')
        line = '%s (audit): deployed, but the audit says %s: %s' % (item.get('domain'), item.get('status'), codes)
        failures.append({'domain': item.get('domain'), 'stage': 'audit', 'line': line})
    return failures


def select_entries(entries, limit):
    """The entries to deploy: those whose domain is in LIMIT, or all when LIMIT is empty."""
    entries = list(entries or [])
    if not limit:
        return entries
    return [entry for entry in entries if isinstance(entry, dict) and entry.get('domain') in limit]
