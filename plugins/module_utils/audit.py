# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit of accepted domains against RFC 8461, and the verdict of EDCA-TLS-025.

No Ansible imports: the module, the benchmark and the unit tests call ``Auditor`` directly.
Every domain of one call runs concurrently on a pool of threads sharing one resolver and one
TLS context; a broken or hostile domain changes only its own result.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import concurrent.futures
import queue
import threading
import time
import traceback

from .clip import clip
from .domain import DomainError, normalize_domain
from .fetch import fetch_policy, tls_client_context
from .findings import effect, finding, quoted
from .policy import PolicyError, SHORT_MAX_AGE, parse_policy, pattern_matcher
from .record import (TLSRPT_PREFIX, RecordError, ignored_records, is_sts_candidate, is_tlsrpt_candidate,
                     parse_sts_record, parse_tlsrpt_record)
from .resolver import DnsClient
from .smtp import check_starttls
from .verdict import control_status, count_statuses

MAX_POLICY_ADDRESSES = 2     # like a sender, try another address only when one is unreachable
MAX_MX_TLS_HOSTS = 10
HARD_LIMIT_FACTOR = 8        # a domain's lookups and fetches, with room to spare
HARD_LIMIT_FACTOR_MX_TLS = 8 + 4 * MAX_MX_TLS_HOSTS
MAX_DNS_THREADS = 256
MAX_NS_HOSTS = 13            # as many as a root zone has: a hostile NS set must not hold the domain for long
MAX_FINDINGS_PER_CODE = 20   # a hostile policy or MX set must not make one domain's result megabytes

# fetch / STARTTLS problem words -> finding codes
_POLICY_PROBLEM_CODES = {
    'connect-failed': 'policy-connect-failed', 'timeout': 'policy-timeout',
    'cert-expired': 'policy-cert-expired', 'cert-name-mismatch': 'policy-cert-name-mismatch',
    'cert-untrusted': 'policy-cert-untrusted', 'tls-error': 'policy-tls-error',
    'redirect': 'policy-redirect', 'http-status': 'policy-http-status',
    'content-type': 'policy-content-type', 'too-large': 'policy-too-large', 'http-error': 'policy-http-error',
}
_MX_TLS_PROBLEM_CODES = {
    'connect-failed': 'mx-connect-failed', 'starttls-missing': 'mx-starttls-missing',
    'cert-expired': 'mx-cert-invalid', 'cert-name-mismatch': 'mx-cert-invalid',
    'cert-untrusted': 'mx-cert-invalid', 'tls-error': 'mx-tls-error', 'timeout': 'mx-connect-failed',
}


class AuditOptions(object):
    """The options of one audit run, with the module's defaults."""

    def __init__(self, nameservers=None, dns_port=53, ca_path=None, timeout=10.0, concurrency=64,
                 require_mode='testing', check_mx_tls=False, smtp_port=25, cert_min_days=14,
                 check_consistency=False, check_dane=True, tlsrpt_summary=None):
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
    """Audits domains with one resolver setup and one TLS context."""

    def __init__(self, options):
        self.options = options
        self.dns = DnsClient(options.nameservers, options.dns_port, options.timeout)
        self.ssl_context = tls_client_context(options.ca_path)
        # urllib3 switches check_hostname off on the context it is given (it checks the name itself),
        # so STARTTLS, which relies on the context's own name check, gets a context urllib3 never sees.
        self.smtp_context = tls_client_context(options.ca_path)
        self._dns_pool = None

    # -- many domains -------------------------------------------------------------------------

    def audit_domains(self, values):
        """Audit every value concurrently; results come back in input order, one per input."""
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
        audited = _WorkerPool(self, list(by_domain), self.hard_limit()).run()
        for domain, indexes in by_domain.items():
            for index in indexes:
                result = dict(audited[domain])
                result['input'] = values[index]
                results[index] = result
        return results

    def hard_limit(self):
        """Seconds after which a domain still running is given up on (a safety net: every operation has its own timeout)."""
        return self.options.timeout * (HARD_LIMIT_FACTOR_MX_TLS if self.options.check_mx_tls else HARD_LIMIT_FACTOR) + 2.0

    def lookup_soon(self, name, rdtype):
        """Start a lookup on the DNS pool; returns a callable that gives its Lookup."""
        if self._dns_pool is None:
            lookup = self.dns.lookup(name, rdtype)
            return lambda: lookup
        return self._dns_pool.submit(self.dns.lookup, name, rdtype).result

    def _invalid(self, value, exc):
        result = _empty_result(value, None)
        result['findings'].append(finding('domain-invalid', '%s is not a domain name: %s' % (quoted(value), exc)))
        result['status'] = 'fail'
        result['enforce_ready'], result['enforce_blockers'] = enforce_readiness(result)
        return result

    def audit_domain_safely(self, domain):
        try:
            return self.audit_domain(domain)
        except Exception as exc:  # one domain's surprise never costs the others their results
            result = _empty_result(domain, domain)
            where = traceback.extract_tb(exc.__traceback__)[-1]
            result['findings'].append(finding('audit-error', '%s: %s (at %s:%d)' % (
                type(exc).__name__, _clip(str(exc)), where.filename.rsplit('/', 1)[-1], where.lineno)))
            result['status'] = 'unknown'
            result['enforce_ready'], result['enforce_blockers'] = enforce_readiness(result)
            return result

    # -- one domain ---------------------------------------------------------------------------

    def audit_domain(self, domain):
        """Audit one normalized domain; returns the result dict with status, findings and evidence."""
        result = _empty_result(domain, domain)
        findings = result['findings']
        # The lookups that do not depend on each other run at once, so a silent nameserver costs one timeout.
        pending = {
            'mx': self.lookup_soon(domain, 'MX'),
            'record': self.lookup_soon('_mta-sts.%s' % domain, 'TXT'),
            'policy_a': self.lookup_soon('mta-sts.%s' % domain, 'A'),
            'tlsrpt': self.lookup_soon('_smtp._tls.%s' % domain, 'TXT'),
        }
        result['mx'] = self._check_mx_records(domain, pending['mx'](), findings)
        if result['mx'].get('null_mx'):
            result['status'] = verdict(findings)
            result['enforce_ready'], result['enforce_blockers'] = enforce_readiness(result)
            return result
        result['record'] = self._check_record(pending['record'](), findings)
        result['policy'] = self._check_policy(domain, pending['policy_a'](), findings)
        parsed = result['policy'].pop('parsed', None)
        mode = parsed['mode'] if parsed else None
        if parsed:
            self._judge_policy(parsed, findings)
            if mode in ('enforce', 'testing') and result['mx']['hosts']:
                self._match_mx(parsed, result['mx'], mode, findings)
        self._check_cert_expiry('policy-cert-expiring', result['policy'].get('certificate'),
                                result['policy']['host'], findings)
        result['tlsrpt'] = self._check_tlsrpt(pending['tlsrpt'](), findings)
        self._check_tlsrpt_reports(domain, result['tlsrpt'], findings)
        if self.options.check_dane and result['mx']['hosts'] and not result['mx']['implicit']:
            self._check_dane(result['mx'], findings)
        if self.options.check_mx_tls and result['mx']['hosts']:
            self._check_mx_tls(result['mx'], mode, findings)
        if self.options.check_consistency:
            result['record']['consistency'] = self._check_consistency(domain, findings)
        result['status'] = verdict(findings)
        result['enforce_ready'], result['enforce_blockers'] = enforce_readiness(result)
        return result

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

    def _check_dane(self, mx_evidence, findings):
        # As many hosts as the STARTTLS check: thousands of MX hosts must not fill the DNS pool all domains share.
        pending = [(host, self.lookup_soon('_25._tcp.%s' % host['host'], 'TLSA'))
                   for host in mx_evidence['hosts'][:MAX_MX_TLS_HOSTS]]
        for host, lookup in pending:
            lookup = lookup()
            host['tlsa'] = lookup.records if lookup.ok else []
            if lookup.ok:
                findings.append(finding('mx-dane-tlsa', 'MX host %s publishes %d TLSA record(s) at %s' % (
                    host['host'], len(lookup.records), lookup.name)))

    def _check_consistency(self, domain, findings):
        """Ask every authoritative nameserver of the zone for _mta-sts.<domain> and compare the answers."""
        name = '_mta-sts.%s' % domain
        zone = self.dns.zone_of(name)
        evidence = {'zone': zone, 'servers': [], 'consistent': None}
        ns_lookup = self.dns.lookup(zone, 'NS') if zone else None
        if ns_lookup is None or not ns_lookup.ok:
            findings.append(finding('txt-consistency-unknown', 'no NS records found for the zone of %s' % name))
            return evidence
        for ns_host in ns_lookup.records[:MAX_NS_HOSTS]:
            addresses = (self.dns.lookup(ns_host, 'A').records or self.dns.lookup(ns_host, 'AAAA').records)[:2]
            if not addresses:
                evidence['servers'].append({'ns': ns_host, 'address': None, 'outcome': 'error', 'error': 'no address'})
                continue
            for address in addresses:
                answer = self.dns.query_server(address, name, 'TXT')
                sts = sorted(text for text in answer.records if is_sts_candidate(text))
                evidence['servers'].append({'ns': ns_host, 'address': address, 'outcome': answer.outcome,
                                            'error': answer.error, 'txt': sts})
        answered = [server for server in evidence['servers'] if server['outcome'] != 'error']
        if len(answered) < len(evidence['servers']):
            findings.append(finding('txt-consistency-unknown', '%d of %d nameserver address(es) of %s did not answer' % (
                len(evidence['servers']) - len(answered), len(evidence['servers']), zone)))
        distinct = set(tuple(server['txt']) for server in answered)
        evidence['consistent'] = len(distinct) <= 1
        if len(distinct) > 1:
            views = '; '.join('%s (%s): %s' % (server['ns'], server['address'], ' | '.join(server['txt']) or 'none')
                              for server in answered)
            findings.append(finding('txt-inconsistent', 'the nameservers of %s disagree on %s: %s' % (zone, name, views)))
        return evidence

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
            evidence['implicit'] = True
            records = [(0, domain)]
            findings.append(finding('mx-implicit', '%s has no MX record (%s); %s itself is the implicit MX' % (
                domain, lookup.outcome, domain)))
        evidence['hosts'] = [{'host': host, 'preference': preference, 'pattern': None}
                             for preference, host in records if host not in ('', '.')]
        return evidence

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

    def _policy_addresses(self, host, lookup_a, findings):
        lookups = [lookup_a]
        if not lookups[0].ok:
            lookups.append(self.dns.lookup(host, 'AAAA'))
        addresses = [address for lookup in lookups for address in lookup.records]
        evidence = {'lookups': [lookup.as_evidence() for lookup in lookups], 'addresses': addresses}
        if not addresses:
            failed = [lookup for lookup in lookups if lookup.outcome == 'error']
            if failed:
                findings.append(finding('policy-host-lookup-failed', 'address lookup for %s failed: %s' % (
                    host, failed[0].error)))
            else:
                findings.append(finding('policy-host-missing', '%s has no A or AAAA record (%s)' % (
                    host, lookups[-1].outcome)))
        return addresses, evidence

    def _check_policy(self, domain, lookup_a, findings):
        host = 'mta-sts.%s' % domain
        evidence = {'host': host, 'url': 'https://%s/.well-known/mta-sts.txt' % host}
        addresses, evidence['dns'] = self._policy_addresses(host, lookup_a, findings)
        if not addresses:
            return evidence
        fetched = None
        for address in addresses[:MAX_POLICY_ADDRESSES]:
            fetched = fetch_policy(host, address, self.options.timeout, self.ssl_context)
            if fetched.problem != 'connect-failed':
                break  # like a sender: only an unreachable address makes the next one worth a try
        evidence.update(fetched.as_evidence())
        if fetched.problem:
            code = _POLICY_PROBLEM_CODES[fetched.problem]
            findings.append(finding(code, 'https://%s/.well-known/mta-sts.txt (%s): %s' % (
                host, fetched.address, fetched.detail)))
            return evidence
        try:
            evidence['text'] = fetched.body.decode('utf-8')
        except UnicodeDecodeError as exc:
            evidence['text'] = fetched.body.decode('utf-8', 'replace')
            findings.append(finding('policy-encoding', 'the policy is not UTF-8 text: %s' % exc))
            return evidence
        try:
            parsed = parse_policy(evidence['text'])
        except PolicyError as exc:
            for code, message in _capped(exc.problems):
                findings.append(finding(code, message))
            return evidence
        evidence['parsed'] = parsed
        for warning in parsed['warnings']:  # RFC 8461 section 3.2: what senders ignore
            findings.append(finding(warning['code'], warning['message']))
        evidence.update({'version': parsed['version'], 'mode': parsed['mode'],
                         'max_age': parsed['max_age'], 'mx': parsed['mx']})
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
        for code, message in _capped(uncovered):
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

    def _check_mx_tls(self, mx_evidence, mode, findings):
        # RFC 8461 section 4: only an enforce policy makes a sender refuse a bad MX host.
        severity = None if mode == 'enforce' else 'warning'
        for host in mx_evidence['hosts'][:MAX_MX_TLS_HOSTS]:
            addresses, dns_evidence = self._mx_addresses(host['host'])
            if addresses is None:
                findings.append(finding('mx-lookup-failed', 'address lookup for MX host %s failed: %s' % (
                    host['host'], dns_evidence)))
                continue
            if not addresses:
                findings.append(finding('mx-host-missing', 'MX host %s has no A or AAAA record' % host['host'],
                                        severity_override=severity))
                continue
            facts = check_starttls(host['host'], addresses[0], self.options.smtp_port, self.options.timeout,
                                   self.smtp_context)
            host['tls'] = facts
            if facts['problem']:
                findings.append(finding(_MX_TLS_PROBLEM_CODES[facts['problem']], 'MX host %s (%s): %s' % (
                    host['host'], addresses[0], facts['error']), severity_override=severity))
            else:
                self._check_cert_expiry('mx-cert-expiring', facts['certificate'], 'MX host %s' % host['host'], findings)

    def _mx_addresses(self, host):
        lookup = self.dns.lookup(host, 'A')
        if not lookup.ok:
            lookup6 = self.dns.lookup(host, 'AAAA')
            if lookup6.ok:
                return lookup6.records, None
            failed = [item for item in (lookup, lookup6) if item.outcome == 'error']
            if failed:
                return None, failed[0].error
        return lookup.records, None


# Warnings that do not fail a domain in testing mode but would break mail once it enforces.
_ENFORCE_BLOCKING_WARNINGS = frozenset((
    'mx-not-covered', 'mx-starttls-missing', 'mx-cert-invalid', 'mx-connect-failed', 'mx-tls-error',
    'mx-host-missing', 'policy-cert-expiring', 'mx-cert-expiring', 'tlsrpt-missing', 'tlsrpt-invalid',
    'tlsrpt-reported-failures', 'txt-inconsistent',
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


class _WorkerPool(object):
    """Daemon threads that audit a list of domains; a domain past the hard limit is given up on.

    Daemon threads, because a thread stuck on a hostile server must not keep the module from exiting;
    a stuck thread is replaced so the domains queued behind it still run.
    """

    def __init__(self, auditor, domains, hard_limit):
        self.auditor = auditor
        self.work = queue.Queue()
        for domain in domains:
            self.work.put(domain)
        self.total = len(domains)
        self.hard_limit = hard_limit
        self.done = {}
        self.running = {}   # domain -> (started, thread)
        self.changed = threading.Condition()

    def run(self):
        if not self.total:
            return self.done
        size = min(self.auditor.options.concurrency, self.total)
        dns_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=min(4 * size, MAX_DNS_THREADS), thread_name_prefix='mta-sts-dns')
        self.auditor._dns_pool = dns_pool
        try:
            for _n in range(size):
                self._start_worker()
            with self.changed:
                while len(self.done) < self.total:
                    self.changed.wait(timeout=0.5)
                    self._give_up_on_stuck_domains()
        finally:
            self.auditor._dns_pool = None
            # Lookups still queued belong to given-up domains: drop them, or the process waits for them at exit.
            dns_pool.shutdown(wait=False, cancel_futures=True)
        return self.done

    def _start_worker(self):
        thread = threading.Thread(target=self._worker, name='mta-sts-audit')
        thread.daemon = True
        thread.start()

    def _worker(self):
        me = threading.current_thread()
        while True:
            try:
                domain = self.work.get_nowait()
            except queue.Empty:
                return
            with self.changed:
                self.running[domain] = (time.monotonic(), me)
            result = self.auditor.audit_domain_safely(domain)
            with self.changed:
                if self.running.pop(domain, (None, None))[1] is not me:
                    return  # given up on while it ran: a replacement took its place
                self.done[domain] = result
                self.changed.notify()

    def _give_up_on_stuck_domains(self):
        now = time.monotonic()
        for domain, (started, _thread) in list(self.running.items()):
            if now - started > self.hard_limit:
                del self.running[domain]
                result = _empty_result(domain, domain)
                result['findings'].append(finding('audit-timeout', 'the audit of %s did not finish within %.0fs' % (
                    domain, self.hard_limit)))
                result['status'] = verdict(result['findings'])
                result['enforce_ready'], result['enforce_blockers'] = enforce_readiness(result)
                self.done[domain] = result
                self._start_worker()


def _capped(problems, limit=MAX_FINDINGS_PER_CODE):
    """``(code, message)`` pairs, at most ``limit`` of each code, then one that counts the rest."""
    shown = {}
    hidden = {}
    out = []
    for code, message in problems:
        if shown.get(code, 0) < limit:
            shown[code] = shown.get(code, 0) + 1
            out.append((code, message))
        else:
            hidden[code] = hidden.get(code, 0) + 1
    for code, count in sorted(hidden.items()):
        out.append((code, '%d more %s finding(s) not listed' % (count, code)))
    return out


def _empty_result(value, domain):
    return {'input': value, 'domain': domain, 'status': None, 'findings': [], 'enforce_ready': False,
            'enforce_blockers': [], 'record': None, 'policy': None, 'mx': None, 'tlsrpt': None}


def _capped_list(items, limit=MAX_FINDINGS_PER_CODE):
    return items[:limit] + (['%d more' % (len(items) - limit)] if len(items) > limit else [])


def _clip(value, limit=200):
    return clip(value, limit)
