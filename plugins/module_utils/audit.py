# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit of accepted domains against RFC 8461, and the verdict of EDCA-TLS-025.

No Ansible imports: the module, the benchmark and the unit tests call ``Auditor`` directly.
One asyncio event loop runs the whole audit: every domain is a task, at most ``concurrency`` at a
time, each under one deadline (``asyncio.timeout``) so a hostile server is cancelled cleanly and a
broken or hostile domain changes only its own result. ``Auditor.audit_domains`` is synchronous
(``asyncio.run``) for the module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import ctypes
import multiprocessing
import os
import signal
import time
import traceback

from .addresses import AddressPolicy
from .clip import clip
from .domain import DomainError, normalize_domain
from .fetch import resolve_and_fetch_policy
from .findings import capped, effect, finding, quoted
from .migration import check_planned_mx
from .policy import SHORT_MAX_AGE, pattern_matcher
from .record import (TLSRPT_PREFIX, RecordError, ignored_records, is_sts_candidate, is_tlsrpt_candidate,
                     parse_sts_record, parse_tlsrpt_record)
from .resolver import MAX_INFLIGHT, DnsClient
from .smtp import MX_TLS_PROBLEM_CODES, check_starttls_async
from .tls import tls_client_context
from .verdict import control_status, count_statuses  # noqa: F401  (imported from here by callers)

MAX_MX_TLS_HOSTS = 10
# A domain's network work is at most three timeouts one after the other (its first lookups at once; the
# policy host's addresses and MX host addresses; the download and STARTTLS); the domain's deadline adds
# one more and a little room. check_consistency runs beside it within the same deadline.
DOMAIN_STAGES = 4
DOMAIN_SLACK = 1.0
MAX_NS_HOSTS = 13            # as many as a root zone has: a hostile NS set must not hold the domain for long
MAX_NS_ADDRESSES = 2         # addresses asked per NS host
MAX_FINDINGS_PER_CODE = 20   # a hostile policy or MX set must not make one domain's result megabytes
DOMAINS_PER_PROCESS = 1000   # processes=0 (automatic): one more process per this many domains, up to the CPUs


class AuditOptions(object):
    """The options of one audit run, with the module's defaults."""

    def __init__(self, nameservers=None, dns_port=53, ca_path=None, timeout=10.0, concurrency=64,
                 require_mode='testing', check_mx_tls=False, smtp_port=25, cert_min_days=14,
                 check_consistency=False, check_dane=True, tlsrpt_summary=None, allow_private_addresses=False,
                 processes=0, planned_mx=None):
        self.nameservers = list(nameservers or [])
        self.dns_port = int(dns_port)
        self.ca_path = ca_path
        self.timeout = float(timeout)
        self.concurrency = max(1, int(concurrency))
        self.require_mode = require_mode
        self.check_mx_tls = bool(check_mx_tls)
        self.smtp_port = int(smtp_port)
        self.cert_min_days = int(cert_min_days)
        self.check_consistency = bool(check_consistency)
        self.check_dane = bool(check_dane)
        self.tlsrpt_summary = tlsrpt_summary or {}
        self.allow_private_addresses = bool(allow_private_addresses)
        self.processes = max(0, int(processes))   # 0: automatic (process_count)
        self.planned_mx = planned_mx              # migration.normalize_planned: MX hosts to switch to


def verdict(findings):
    """The status of one domain from its findings.

    skipped (null MX) before everything; any error finding that is not a lookup failure: fail;
    else any lookup failure: unknown; else pass (warnings and info do not change it).
    """
    codes_by_effect = {}
    for item in findings:
        kind = effect(item['code'])
        if item['severity'] == 'error' and kind not in ('unknown', 'skip'):
            kind = 'fail'
        elif item['severity'] != 'error' and kind in ('fail', 'unknown'):
            kind = 'warn'  # a rule that only warns in this context (testing mode)
        codes_by_effect.setdefault(kind, []).append(item['code'])
    if 'skip' in codes_by_effect and 'domain-invalid' not in codes_by_effect.get('fail', ()):
        return 'skipped'
    if 'fail' in codes_by_effect:
        return 'fail'
    if 'unknown' in codes_by_effect:
        return 'unknown'
    return 'pass'


def control_summary(control, domain_results):
    """The control block of a result: the definition's metadata plus status and counts."""
    counts = count_statuses(domain_results)
    return {
        'id': control.get('id'),
        'title': control.get('title'),
        'severity': control.get('severity'),
        'severity_weight': control.get('severityWeight'),
        'frameworks': list(control.get('frameworks') or []),
        'status': control_status(counts),
        'counts': counts,
    }


class Auditor(object):
    """Audits domains with one resolver setup, one TLS context and one address policy."""

    def __init__(self, options):
        self.options = options
        # as many lookups on the network as four per domain in flight, at most the resolver's bound
        self.dns = DnsClient(options.nameservers, options.dns_port, options.timeout,
                             max_inflight=min(4 * options.concurrency, MAX_INFLIGHT))
        # One context for policy hosts and MX hosts: both connections check the name on the context itself.
        self.ssl_context = tls_client_context(options.ca_path)
        self.addresses = AddressPolicy(options.allow_private_addresses)

    # -- many domains -------------------------------------------------------------------------

    def audit_domains(self, values):
        """Audit every value concurrently; results come back in input order, one per input.

        One event loop per process; with ``processes`` above 1 each process audits a contiguous slice of
        the distinct domains and the slices are joined in input order (the results are the same).
        """
        values = list(values)
        results = [None] * len(values)
        by_domain = {}
        for index, value in enumerate(values):
            try:
                domain = normalize_domain(value)
            except DomainError as exc:
                results[index] = self._invalid(value, exc)
                continue
            by_domain.setdefault(domain, []).append(index)
        domains = list(by_domain)
        processes = process_count(self.options.processes, len(domains))
        if processes > 1:
            audited = _audit_in_processes(self, domains, processes)
        else:
            audited = asyncio.run(self.audit_list(domains))
        for (domain, indexes), one in zip(by_domain.items(), audited):
            for index in indexes:
                result = dict(one)
                result['input'] = values[index]
                results[index] = result
        return results

    async def audit_list(self, domains):
        """Audit normalized, distinct domains on the running loop; results in the same order."""
        # Every domain a task; the semaphore is taken before the task exists, so at most ``concurrency``
        # domains are in flight and 10,000 waiting domains cost no memory.
        limit = asyncio.Semaphore(self.options.concurrency)
        tasks = []
        for domain in domains:
            await limit.acquire()
            tasks.append(asyncio.create_task(self._audit_and_release(domain, limit)))
        return await asyncio.gather(*tasks)

    async def _audit_and_release(self, domain, limit):
        try:
            return await self.audit_domain(domain)
        finally:
            limit.release()

    def hard_limit(self):
        """Seconds after which a domain still running is given up on, keeping what was found until then."""
        return self.options.timeout * DOMAIN_STAGES + DOMAIN_SLACK

    def _invalid(self, value, exc):
        result = _empty_result(value, None)
        result['findings'].append(finding('domain-invalid', '%s is not a domain name: %s' % (quoted(value), exc)))
        return _finish(result)

    # -- one domain ---------------------------------------------------------------------------

    async def audit_domain(self, domain):
        """Audit one normalized domain under its deadline; never raises for what a server or the input does."""
        result = _empty_result(domain, domain)
        started = time.monotonic()
        deadline = asyncio.get_running_loop().time() + self.hard_limit()
        bound = asyncio.timeout_at(deadline)
        try:
            async with bound:
                await self._audit_into(result, deadline)
        except TimeoutError:
            if not bound.expired():
                raise
            result['findings'].append(finding('audit-timeout', 'the audit of %s did not finish within %.0fs; '
                                              'what was found until then is kept' % (domain, self.hard_limit())))
        except Exception as exc:  # one domain's surprise never costs the others their results
            where = traceback.extract_tb(exc.__traceback__)[-1]
            result['findings'].append(finding('audit-error', '%s: %s (at %s:%d)' % (
                type(exc).__name__, _clip(str(exc)), where.filename.rsplit('/', 1)[-1], where.lineno)))
        result['duration'] = round(time.monotonic() - started, 3)  # seconds; JUnit test case times read it
        return _finish(result)

    async def _audit_into(self, result, deadline):
        """Fill ``result`` step by step, so that a deadline keeps every section finished before it."""
        domain = result['domain']
        findings = result['findings']
        options = self.options
        tasks = []

        def start(coroutine):
            task = asyncio.create_task(coroutine)
            tasks.append(task)
            return task

        try:
            # What does not depend on anything else starts at once, so a silent server costs one timeout.
            policy = start(resolve_and_fetch_policy(self.dns, domain, options.timeout, self.ssl_context,
                                                    address_filter=self.addresses.policy_host_refusal))
            consistency = None
            if options.check_consistency:
                consistency_evidence = {'zone': None, 'servers': [], 'consistent': None}
                consistency_findings = []
                consistency = start(self._check_consistency(domain, consistency_evidence, consistency_findings,
                                                            deadline - DOMAIN_SLACK / 2))
            mx_lookup, record_lookup, tlsrpt_lookup = await asyncio.gather(
                self.dns.lookup(domain, 'MX'), self.dns.lookup('_mta-sts.%s' % domain, 'TXT'),
                self.dns.lookup('_smtp._tls.%s' % domain, 'TXT'))
            if mx_lookup.outcome == 'nxdomain':
                self._domain_missing(result, mx_lookup, record_lookup, tlsrpt_lookup)
                return
            result['mx'] = self._check_mx_records(domain, mx_lookup, findings)
            if result['mx']['null_mx']:
                return
            result['record'] = self._check_record(record_lookup, findings)
            mx_hosts = result['mx']['hosts'][:MAX_MX_TLS_HOSTS]
            tlsa = None
            if options.check_dane and mx_hosts and not result['mx']['implicit']:
                tlsa = start(_all(*(self.dns.lookup('_25._tcp.%s' % host['host'], 'TLSA') for host in mx_hosts)))
            mx_tls = None
            if options.check_mx_tls and mx_hosts:
                mx_tls = start(_all(*(self._mx_tls_facts(host['host']) for host in mx_hosts)))

            result['policy'], policy_findings, parsed = await policy
            findings.extend(_refusals_as_warnings_if_fetched(result['policy'], policy_findings))
            result['policy'].pop('parsed', None)
            mode = parsed['mode'] if parsed else None
            if parsed:
                for warning in parsed.get('warnings', ()):  # RFC 8461 section 3.2: what senders ignore
                    findings.append(finding(warning['code'], warning['message']))
                self._judge_policy(parsed, findings)
                if mode in ('enforce', 'testing') and result['mx']['hosts']:
                    self._match_mx(parsed, result['mx'], mode, findings)
            check_planned_mx(options.planned_mx, result, parsed, time.time())  # MX migration (RFC 8461 section 5.1)
            self._check_cert_expiry('policy-cert-expiring', result['policy'].get('certificate'),
                                    result['policy']['host'], findings)
            result['tlsrpt'] = self._check_tlsrpt(tlsrpt_lookup, findings)
            self._check_tlsrpt_reports(domain, result['tlsrpt'], findings)
            if tlsa is not None:
                self._judge_dane(mx_hosts, await tlsa, findings)
            if mx_tls is not None:
                self._judge_mx_tls(mx_hosts, await mx_tls, mode, findings)
            if consistency is not None:
                result['record']['consistency'] = consistency_evidence
                await consistency
                findings.extend(consistency_findings)
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
                elif not task.cancelled():
                    task.exception()  # retrieved: a task left behind by an early return logs nothing

    def _domain_missing(self, result, mx_lookup, record_lookup, tlsrpt_lookup):
        """NXDOMAIN for the domain itself: one root-cause finding instead of mx-implicit, txt-missing and the rest."""
        domain = result['domain']
        evidence = mx_lookup.as_evidence()
        evidence.update({'hosts': [], 'implicit': False, 'null_mx': False})
        result['mx'] = evidence
        scratch = []  # the names below a domain that does not exist do not exist either (RFC 8020)
        result['record'] = self._check_record(record_lookup, scratch)
        result['tlsrpt'] = self._check_tlsrpt(tlsrpt_lookup, scratch)
        via = ' (through CNAME %s)' % ' -> '.join(mx_lookup.cname_chain) if mx_lookup.cname_chain else ''
        result['findings'].append(finding('domain-nxdomain', '%s does not exist in DNS (NXDOMAIN%s): it receives '
                                          'no mail and can publish no MTA-STS policy' % (domain, via)))

    # -- MX hosts -----------------------------------------------------------------------------

    def _check_mx_records(self, domain, lookup, findings):
        evidence = lookup.as_evidence()
        evidence.update({'hosts': [], 'implicit': False, 'null_mx': False})
        if lookup.outcome == 'error':
            findings.append(finding('mx-lookup-failed', 'MX lookup for %s failed: %s' % (domain, lookup.error)))
            return evidence
        records = lookup.records if lookup.ok else []
        if len(records) == 1 and records[0][1] in ('', '.'):
            evidence['null_mx'] = True  # RFC 7505: "MX 0 ." and nothing else
            findings.append(finding('mx-null', '%s publishes a null MX and accepts no mail' % domain))
            return evidence
        if not records:
            # RFC 5321 section 5.1: an existing domain without MX records is its own (implicit) MX
            evidence['implicit'] = True
            records = [(0, domain)]
            findings.append(finding('mx-implicit', '%s has no MX record (%s); %s itself is the implicit MX' % (
                domain, lookup.outcome, domain)))
        evidence['hosts'] = [{'host': host, 'preference': preference, 'pattern': None}
                             for preference, host in records if host not in ('', '.')]
        return evidence

    def _judge_dane(self, hosts, lookups, findings):
        for host, lookup in zip(hosts, lookups):
            host['tlsa'] = lookup.records if lookup.ok else []
            if lookup.ok:
                findings.append(finding('mx-dane-tlsa', 'MX host %s publishes %d TLSA record(s) at %s' % (
                    host['host'], len(lookup.records), lookup.name)))

    async def _mx_tls_facts(self, name):
        """What the STARTTLS check of one MX host found: {'error'|'addresses', 'refused', 'tls'}."""
        a_lookup, aaaa_lookup = await asyncio.gather(self.dns.lookup(name, 'A'), self.dns.lookup(name, 'AAAA'))
        addresses = a_lookup.records + aaaa_lookup.records
        failed = [item for item in (a_lookup, aaaa_lookup) if item.outcome == 'error']
        if not addresses and failed:
            return {'error': failed[0].error}
        allowed, refused = self.addresses.split(addresses)
        facts = {'addresses': addresses, 'refused': refused, 'tls': None}
        if allowed:
            facts['tls'] = await check_starttls_async(name, allowed[0], self.options.smtp_port, self.options.timeout,
                                                      self.ssl_context)
        return facts

    def _judge_mx_tls(self, hosts, all_facts, mode, findings):
        # RFC 8461 section 4: only an enforce policy makes a sender refuse a bad MX host.
        severity = None if mode == 'enforce' else 'warning'
        for host, facts in zip(hosts, all_facts):
            name = host['host']
            if 'error' in facts:
                findings.append(finding('mx-lookup-failed', 'address lookup for MX host %s failed: %s' % (
                    name, facts['error'])))
                continue
            if not facts['addresses']:
                findings.append(finding('mx-host-missing', 'MX host %s has no A or AAAA record' % name,
                                        severity_override=severity))
                continue
            for address, reason in facts['refused']:
                findings.append(finding('mx-private-address', 'MX host %s resolves to %s, a %s address: not '
                                        'contacted (see allow_private_addresses)' % (name, address, reason),
                                        severity_override=severity))
            tls = facts['tls']
            if tls is None:
                continue
            host['tls'] = tls
            if tls['problem']:
                findings.append(finding(MX_TLS_PROBLEM_CODES[tls['problem']], 'MX host %s (%s): %s' % (
                    name, tls['address'], tls['error']), severity_override=severity))
            else:
                self._check_cert_expiry('mx-cert-expiring', tls['certificate'], 'MX host %s' % name, findings)

    # -- nameserver consistency ---------------------------------------------------------------

    async def _check_consistency(self, domain, evidence, findings, deadline):
        """Ask every authoritative nameserver of the zone for _mta-sts.<domain>, all at once, and compare.

        ``evidence`` is filled as answers come, so the deadline keeps what was asked and answered by then.
        """
        name = '_mta-sts.%s' % domain
        try:
            async with asyncio.timeout_at(deadline):
                await self._ask_nameservers(name, evidence, findings, deadline)
        except TimeoutError:
            findings.append(finding('txt-consistency-unknown', 'the nameservers of %s were not all asked within '
                                    'the domain\'s deadline' % (evidence['zone'] or name)))
            return
        answered = [server for server in evidence['servers'] if server['outcome'] != 'error']
        if len(answered) < len(evidence['servers']):
            findings.append(finding('txt-consistency-unknown', '%d of %d nameserver address(es) of %s did not answer' % (
                len(evidence['servers']) - len(answered), len(evidence['servers']), evidence['zone'])))
        distinct = set(tuple(server['txt']) for server in answered)
        evidence['consistent'] = len(distinct) <= 1
        if len(distinct) > 1:
            views = '; '.join('%s (%s): %s' % (server['ns'], server['address'], ' | '.join(server['txt']) or 'none')
                              for server in answered)
            findings.append(finding('txt-inconsistent', 'the nameservers of %s disagree on %s: %s' % (
                evidence['zone'], name, views)))

    async def _ask_nameservers(self, name, evidence, findings, deadline):
        zone = evidence['zone'] = await self.dns.zone_of(name, deadline)
        ns_lookup = await self.dns.lookup(zone, 'NS', deadline) if zone else None
        if ns_lookup is None or not ns_lookup.ok:
            findings.append(finding('txt-consistency-unknown', 'no NS records found for the zone of %s' % name))
            return
        ns_hosts = ns_lookup.records[:MAX_NS_HOSTS]
        address_lookups = await asyncio.gather(*(
            self.dns.lookup(ns_host, rdtype, deadline) for ns_host in ns_hosts for rdtype in ('A', 'AAAA')))
        asked = []
        for index, ns_host in enumerate(ns_hosts):
            addresses = address_lookups[2 * index].records + address_lookups[2 * index + 1].records
            if not addresses:
                evidence['servers'].append({'ns': ns_host, 'address': None, 'outcome': 'error', 'error': 'no address'})
                continue
            allowed, refused = self.addresses.split(addresses)
            for address, reason in refused:
                findings.append(finding('ns-private-address', 'NS host %s resolves to %s, a %s address: not asked '
                                        '(see allow_private_addresses)' % (ns_host, address, reason)))
                evidence['servers'].append({'ns': ns_host, 'address': address, 'outcome': 'error',
                                            'error': 'not asked: %s address' % reason, 'txt': []})
            for address in allowed[:MAX_NS_ADDRESSES]:
                server = {'ns': ns_host, 'address': address, 'outcome': 'error',
                          'error': 'no answer within the domain\'s deadline', 'txt': []}
                evidence['servers'].append(server)
                asked.append(server)
        await asyncio.gather(*(self._ask_nameserver(server, name, deadline) for server in asked))

    async def _ask_nameserver(self, server, name, deadline):
        answer = await self.dns.query_server(server['address'], name, 'TXT', deadline)
        server.update({'outcome': answer.outcome, 'error': answer.error,
                       'txt': sorted(text for text in answer.records if is_sts_candidate(text))})

    # -- record, policy, TLS-RPT --------------------------------------------------------------

    def _check_cert_expiry(self, code, certificate, name, findings):
        if certificate and certificate['days_left'] < self.options.cert_min_days:
            findings.append(finding(code, 'the certificate of %s expires in %d day(s) (%s), under cert_min_days %d' % (
                name, certificate['days_left'], certificate['not_after'], self.options.cert_min_days)))

    def _check_tlsrpt_reports(self, domain, evidence, findings):
        """Failures senders reported (RFC 8460), from the per-domain summary of mailsec.mta_sts.tlsrpt_info."""
        summary = self.options.tlsrpt_summary.get(domain)
        if summary is None:
            return
        evidence['reports'] = summary
        failed = summary.get('failed_sessions') or 0
        malformed = summary.get('malformed_reports') or 0
        if failed or malformed:
            kinds = ', '.join('%s %s' % (count, kind) for kind, count in sorted((summary.get('failure_types') or {}).items()))
            findings.append(finding('tlsrpt-reported-failures', 'senders reported %d failed session(s)%s%s' % (
                failed, ' (%s)' % kinds if kinds else '',
                '; %d report(s) for the domain could not be read' % malformed if malformed else '')))

    def _check_record(self, lookup, findings):
        name = lookup.name
        evidence = lookup.as_evidence()
        evidence.update({'txt': list(lookup.records), 'id': None, 'extensions': {}})
        if lookup.outcome == 'error':
            findings.append(finding('txt-lookup-failed', 'TXT lookup for %s failed: %s' % (name, lookup.error)))
            return evidence
        candidates = [text for text in lookup.records if is_sts_candidate(text)]
        ignored = len(lookup.records) - len(candidates)
        if ignored:
            findings.append(finding('txt-ignored', '%d TXT record(s) at %s do not begin with "v=STSv1;" and senders '
                                    'discard them (RFC 8461 section 3.1): %s' % (
                                        ignored, name, '; '.join(_capped_list(ignored_records(lookup.records), 5)))))
        if not candidates:
            findings.append(finding('txt-missing', 'no TXT record beginning with "v=STSv1;" at %s (%s)' % (
                name, 'other TXT records only' if lookup.ok else lookup.outcome)))
        elif len(candidates) > 1:
            findings.append(finding('txt-multiple', '%d v=STSv1 TXT records at %s; senders ignore them all' % (
                len(candidates), name)))
        else:
            try:
                parsed = parse_sts_record(candidates[0])
            except RecordError as exc:
                findings.append(finding('txt-invalid', 'the TXT record at %s is invalid: %s' % (name, exc)))
            else:
                evidence['id'] = parsed['id']
                evidence['extensions'] = parsed['extensions']
                for warning in parsed['warnings']:
                    findings.append(finding(warning['code'], 'the TXT record at %s: %s' % (name, warning['message'])))
        return evidence

    def _judge_policy(self, parsed, findings):
        if parsed['mode'] == 'none':
            findings.append(finding('policy-mode-none', 'the policy is in mode none: senders drop MTA-STS'))
        elif parsed['mode'] == 'testing':
            required = self.options.require_mode == 'enforce'
            findings.append(finding(
                'policy-mode-testing',
                'mode testing: senders report TLS failures but deliver anyway' +
                ('; enforce is required' if required else ''),
                severity_override='error' if required else None))
        if parsed['max_age'] is not None and parsed['max_age'] < SHORT_MAX_AGE:
            findings.append(finding('policy-max-age-short', 'max_age %d is under one day (86400)' % parsed['max_age']))

    def _match_mx(self, parsed, mx_evidence, mode, findings):
        match = pattern_matcher(parsed['mx'])
        patterns = _clip(', '.join(parsed['mx']))
        uncovered = []
        for host in mx_evidence['hosts']:
            host['pattern'] = match(host['host'])
            if host['pattern'] is None:
                uncovered.append(('mx-not-covered', 'MX host %s matches no mx pattern of the policy (%s)%s' % (
                    host['host'], patterns, '' if mode == 'enforce' else '; in testing mode senders only report it')))
        for code, message in capped(uncovered, MAX_FINDINGS_PER_CODE):
            findings.append(finding(code, message, severity_override=None if mode == 'enforce' else 'warning'))

    def _check_tlsrpt(self, lookup, findings):
        name = lookup.name
        evidence = lookup.as_evidence()
        evidence.update({'txt': list(lookup.records), 'rua': []})
        if lookup.outcome == 'error':
            findings.append(finding('tlsrpt-lookup-failed', 'TXT lookup for %s failed: %s' % (name, lookup.error)))
            return evidence
        candidates = [text for text in lookup.records if is_tlsrpt_candidate(text)]
        if not candidates:
            near = ignored_records([text for text in lookup.records if text.lstrip().lower().startswith('v=tlsrpt')],
                                   TLSRPT_PREFIX)
            findings.append(finding('tlsrpt-missing', 'no record beginning with "v=TLSRPTv1;" at %s: senders cannot '
                                    'report TLS failures%s' % (name, ''.join('; senders discard ' + text for text in near))))
        elif len(candidates) > 1:
            findings.append(finding('tlsrpt-invalid', '%d v=TLSRPTv1 records at %s' % (len(candidates), name)))
        else:
            try:
                evidence['rua'] = parse_tlsrpt_record(candidates[0])['rua']
            except RecordError as exc:
                findings.append(finding('tlsrpt-invalid', 'the TLS-RPT record at %s is invalid: %s' % (name, exc)))
        return evidence


# Warnings that do not fail a domain in testing mode but would break mail once it enforces.
_ENFORCE_BLOCKING_WARNINGS = frozenset((
    'mx-not-covered', 'mx-starttls-missing', 'mx-cert-invalid', 'mx-connect-failed', 'mx-tls-error',
    'mx-host-missing', 'policy-cert-expiring', 'mx-cert-expiring', 'tlsrpt-missing', 'tlsrpt-invalid',
    'tlsrpt-reported-failures', 'txt-inconsistent', 'mx-private-address',
))


def enforce_readiness(result):
    """May this domain switch to mode enforce now? Returns (ready, blockers), blockers as {code, message}.

    Ready means a valid record and policy are published, every MX host is covered, the checked MX hosts
    offer valid STARTTLS (MX hosts are judged only with check_mx_tls), certificates outlive cert_min_days, TLS-RPT is published and senders reported
    no failures. A domain that accepts no mail (null MX) has no answer: None.
    """
    if result['status'] == 'skipped':
        return None, []
    blockers = []
    for item in result['findings']:
        if item['code'] == 'policy-mode-testing':
            continue  # the mode is what the user wants to change
        if item['severity'] == 'error' or item['code'] in _ENFORCE_BLOCKING_WARNINGS:
            blockers.append({'code': item['code'], 'message': item['message']})
    return not blockers, blockers


async def _all(*coroutines):
    """``asyncio.gather`` as a coroutine, so it can be a task of its own."""
    return await asyncio.gather(*coroutines)


def _refusals_as_warnings_if_fetched(evidence, findings):
    """Policy-host addresses refused by the address policy only warn when another address was contacted."""
    if evidence.get('address') is None:
        return findings
    return [finding(item['code'], item['message'], severity_override='warning')
            if item['code'] == 'policy-host-private-address' else item for item in findings]


def _finish(result):
    result['status'] = verdict(result['findings'])
    result['enforce_ready'], result['enforce_blockers'] = enforce_readiness(result)
    return result


def _empty_result(value, domain):
    return {'input': value, 'domain': domain, 'status': None, 'findings': [], 'enforce_ready': False,
            'enforce_blockers': [], 'record': None, 'policy': None, 'mx': None, 'tlsrpt': None}


def _capped_list(items, limit=MAX_FINDINGS_PER_CODE):
    return items[:limit] + (['%d more' % (len(items) - limit)] if len(items) > limit else [])


def _clip(value, limit=200):
    return clip(value, limit)


# -- several processes ------------------------------------------------------------------------------

def process_count(requested, domains):
    """How many processes audit ``domains`` distinct domains: ``requested``, or (0) one per CPU for large work."""
    if requested:
        count = requested
    else:
        count = min(os.cpu_count() or 1, domains // DOMAINS_PER_PROCESS)
    return max(1, min(count, domains))


def _audit_in_processes(auditor, domains, processes):
    """Audit contiguous slices of ``domains`` in forked processes, each with its own loop; results in order.

    Each process gets an equal share of ``concurrency`` (the servers see no more connections than with one
    process). A child that dies gives its domains ``audit-error``; a child outlives its parent by nothing
    (PR_SET_PDEATHSIG), so an AWX job killed mid-audit leaves no process behind.
    """
    context = multiprocessing.get_context('fork')
    size = -(-len(domains) // processes)
    slices = [domains[start:start + size] for start in range(0, len(domains), size)]
    children = []
    for part in slices:
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_child_audit, args=(auditor, part, len(slices), sender), daemon=True)
        child.start()
        sender.close()
        children.append((child, receiver, part))
    audited = []
    for child, receiver, part in children:
        try:
            audited.extend(receiver.recv())
        except (EOFError, OSError):
            child.join(5)
            audited.extend(_process_lost(domain, child.exitcode) for domain in part)
        child.join()
    return audited


def _child_audit(auditor, domains, share, sender):
    """In the forked child: the parent's auditor (copied by the fork, no loop started yet) on one slice."""
    _die_with_parent()
    auditor.options.concurrency = max(1, -(-auditor.options.concurrency // share))
    auditor.dns.max_inflight = max(1, -(-auditor.dns.max_inflight // share))
    sender.send(asyncio.run(auditor.audit_list(domains)))
    sender.close()


def _die_with_parent():
    """Linux prctl(PR_SET_PDEATHSIG, SIGKILL): the kernel kills this process when its parent dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _process_lost(domain, exitcode):
    result = _empty_result(domain, domain)
    result['findings'].append(finding('audit-error', 'the process auditing this domain ended unexpectedly '
                                      '(exit code %s); rerun, or set processes=1' % exitcode))
    return _finish(result)
