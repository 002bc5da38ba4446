# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit engine: one event loop, input order, deduplication, deadlines that keep evidence, the address
policy, and domains that do not exist.

The DNS server is real (a small authoritative server on loopback answering from a dict, in this process);
policy hosts and MX hosts that must not be contacted point at loopback listeners that count connections.
Only the deadline bookkeeping tests shorten ``hard_limit`` (a subclass), to see what a deadline keeps
without waiting for one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import sys
import threading
import time

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset
import pytest

LAB = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'lab'))
if LAB not in sys.path:
    sys.path.insert(0, LAB)

import hostile  # noqa: E402  (only for the lab slot's loopback network)

from ansible_collections.mailsec.mta_sts.plugins.module_utils import audit as audit_core  # noqa: E402
from ansible_collections.mailsec.mta_sts.plugins.module_utils.addresses import AddressPolicy, special_purpose  # noqa: E402

NET = hostile.NET
DNS_IP = NET + '70'
LISTEN_IP = NET + '71'        # counts connections on 443 and 25, never answers
SILENT_NS_IP = NET + '72'     # nothing listens: queries go unanswered
ROOT = os.geteuid() == 0


class LoopbackServer(object):
    """A socket served by a thread for the length of a with block; a subclass handles one datagram or connection."""

    def __init__(self, sock):
        sock.settimeout(0.2)
        self.sock = sock
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()

    def _serve(self):
        while not self.stop.is_set():
            try:
                self.handle_one()
            except socket.timeout:
                continue

    def handle_one(self):
        raise NotImplementedError


class ZoneServer(LoopbackServer):
    """Authoritative for ``test.`` over UDP, from {name: {type: [rdata text]}}; NXDOMAIN for names not there."""

    def __init__(self, records):
        self.records = dict((name.lower(), types) for name, types in records.items())
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((DNS_IP, 0))
        self.port = sock.getsockname()[1]
        self.asked = []
        LoopbackServer.__init__(self, sock)

    def handle_one(self):
        wire, peer = self.sock.recvfrom(65535)
        self.sock.sendto(self.answer(dns.message.from_wire(wire)).to_wire(), peer)

    def answer(self, query):
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.asked.append((name, rdtype))
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        soa = dns.rrset.from_text('test.', 60, 'IN', 'SOA', 'ns1.test. admin.test. 1 60 60 60 60')
        values = self.records.get(name, {}).get(rdtype)
        if values:
            response.answer.append(dns.rrset.from_text_list(question.name, 60, 'IN', rdtype, values))
        elif name == 'test' and rdtype == 'SOA':
            response.answer.append(soa)
        else:
            exists = name == 'test' or any(owner == name or owner.endswith('.' + name) for owner in self.records)
            if not exists:
                response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(soa)
        return response


class Listener(LoopbackServer):
    """TCP listener on LISTEN_IP that counts connections and closes them."""

    def __init__(self, port):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LISTEN_IP, port))
        sock.listen(16)
        self.connections = 0
        LoopbackServer.__init__(self, sock)

    def handle_one(self):
        conn = self.sock.accept()[0]
        self.connections += 1
        conn.close()


STS = '"v=STSv1; id=20240501e;"'
RECORDS = {
    # existing domains without a policy host: the audit gets as far as policy-host-missing
    'a.test': {'MX': ['10 mx.a.test.'], 'TXT': ['"v=spf1 -all"']},
    '_mta-sts.a.test': {'TXT': [STS]},
    'b.test': {'MX': ['10 mx.b.test.']},
    'c.test': {'MX': ['10 mx.c.test.']},
    # an existing domain without MX: the implicit MX
    'nomx.test': {'TXT': ['"v=spf1 -all"']},
    '_mta-sts.nomx.test': {'TXT': [STS]},
    # the policy host on a loopback address
    'private.test': {'MX': ['10 mx.private.test.']},
    '_mta-sts.private.test': {'TXT': [STS]},
    'mta-sts.private.test': {'A': [LISTEN_IP]},
    'mx.private.test': {'A': [LISTEN_IP]},
    # the NS hosts of the zone: one on loopback, one silent
    'test': {'NS': ['ns1.test.']},
    'ns1.test': {'A': [SILENT_NS_IP]},
}


def _auditor(port, **options):
    options.setdefault('timeout', 2.0)
    return audit_core.Auditor(audit_core.AuditOptions(nameservers=[DNS_IP], dns_port=port, **options))


def _codes(result):
    return [item['code'] for item in result['findings']]


def test_results_keep_input_order_and_duplicates_are_audited_once():
    values = ['b.test', 'A.test.', 'a.test', 'not a domain', 'c.test']
    with ZoneServer(RECORDS) as server:
        results = _auditor(server.port, concurrency=2).audit_domains(values)
    assert [r['input'] for r in results] == values
    assert [r['domain'] for r in results] == ['b.test', 'a.test', 'a.test', None, 'c.test']
    assert _codes(results[3]) == ['domain-invalid']
    assert results[1]['record']['id'] == '20240501e' and results[1] == dict(results[2], input='A.test.')
    assert server.asked.count(('a.test', 'MX')) == 1


def test_results_are_identical_at_every_concurrency():
    values = ['a.test', 'b.test', 'c.test', 'nomx.test', 'gone.test', 'private.test'] * 3
    runs = []
    with ZoneServer(RECORDS) as server:
        for concurrency in (1, 8, 64):
            results = _auditor(server.port, concurrency=concurrency).audit_domains(values)
            for result in results:
                if result['domain']:  # how long each took is the one thing that differs
                    assert 0 < result.pop('duration') < 5
                if result['policy']:
                    result['policy'].get('dns', {}).pop('elapsed', None)
            runs.append(results)
    assert runs[0] == runs[1] == runs[2]


def test_domain_nxdomain_is_the_one_root_cause_finding():
    """RFC 8020: NXDOMAIN for the domain means nothing below it exists; one finding, not mx-implicit + txt-missing."""
    with ZoneServer(RECORDS) as server:
        result = _auditor(server.port).audit_domains(['gone.test'])[0]
    assert result['status'] == 'fail'
    assert _codes(result) == ['domain-nxdomain']
    assert 'gone.test does not exist' in result['findings'][0]['message']
    assert result['mx']['outcome'] == 'nxdomain' and result['policy'] is None
    assert ('mta-sts.gone.test', 'A') not in server.asked or result['policy'] is None
    assert result['enforce_ready'] is False


def test_mx_implicit_only_for_an_existing_domain_without_mx():
    with ZoneServer(RECORDS) as server:
        result = _auditor(server.port).audit_domains(['nomx.test'])[0]
    assert 'mx-implicit' in _codes(result) and 'domain-nxdomain' not in _codes(result)
    assert result['mx']['implicit'] is True and result['mx']['outcome'] == 'nodata'
    assert result['record']['id'] == '20240501e'


@pytest.mark.skipif(not ROOT, reason='the listener takes ports 443 and 25 (root)')
def test_policy_host_and_mx_host_on_private_addresses_are_not_contacted():
    with ZoneServer(RECORDS) as server, Listener(443) as web, Listener(25) as smtp:
        result = _auditor(server.port, check_mx_tls=True).audit_domains(['private.test'])[0]
        assert web.connections == 0 and smtp.connections == 0
    codes = _codes(result)
    assert result['status'] == 'fail'
    assert 'policy-host-private-address' in codes and 'mx-private-address' in codes
    policy_finding = [f for f in result['findings'] if f['code'] == 'policy-host-private-address'][0]
    assert 'mta-sts.private.test' in policy_finding['message'] and LISTEN_IP in policy_finding['message']
    assert 'loopback' in policy_finding['message'] and policy_finding['severity'] == 'error'
    mx_finding = [f for f in result['findings'] if f['code'] == 'mx-private-address'][0]
    assert 'mx.private.test' in mx_finding['message'] and mx_finding['severity'] == 'warning'  # no enforce policy


@pytest.mark.skipif(not ROOT, reason='the listener takes ports 443 and 25 (root)')
def test_allow_private_addresses_contacts_them():
    with ZoneServer(RECORDS) as server, Listener(443) as web, Listener(25) as smtp:
        result = _auditor(server.port, check_mx_tls=True, allow_private_addresses=True).audit_domains(['private.test'])[0]
        assert web.connections >= 1 and smtp.connections >= 1
    assert 'policy-host-private-address' not in _codes(result) and 'mx-private-address' not in _codes(result)


def test_address_policy_names_every_special_purpose_range():
    policy = AddressPolicy()
    for address in ('127.0.0.1', '0.0.0.0', '::1', '::', '169.254.169.254', 'fe80::1', '10.0.0.1', '172.16.5.4',
                    '192.168.1.1', 'fd12:3456::1', '100.64.0.1', '224.0.0.251', 'ff02::1', '255.255.255.255',
                    '192.0.2.10', '2001:db8::1', '::ffff:10.0.0.1', '64:ff9b::a9fe:a9fe', '2002:7f00:1::'):
        assert policy.refusal(address), address
    for address in ('8.8.8.8', '1.1.1.1', '2a00:1450:4001::1', '64:ff9b::808:808'):
        assert policy.refusal(address) is None, address
    assert 'link-local' in special_purpose('64:ff9b::a9fe:a9fe')
    assert AddressPolicy(allow_private_addresses=True).refusal('127.0.0.1') is None
    assert policy.split(['127.0.0.1', '8.8.8.8']) == (['8.8.8.8'], [('127.0.0.1', 'loopback (RFC 1122)')])


def test_ns_host_on_a_private_address_is_not_asked():
    records = dict(RECORDS)
    records['ns1.test'] = {'A': ['10.0.0.53']}
    with ZoneServer(records) as server:
        result = _auditor(server.port, check_consistency=True).audit_domains(['a.test'])[0]
    assert 'ns-private-address' in _codes(result) and 'txt-consistency-unknown' in _codes(result)
    servers = result['record']['consistency']['servers']
    assert servers == [{'ns': 'ns1.test', 'address': '10.0.0.53', 'outcome': 'error',
                        'error': 'not asked: private (RFC 1918) address', 'txt': []}]


class ShortDeadline(audit_core.Auditor):
    def __init__(self, limit, *args, **kwargs):
        audit_core.Auditor.__init__(self, *args, **kwargs)
        self.limit = limit

    def hard_limit(self):
        return self.limit


def test_consistency_stops_at_the_domain_deadline_and_keeps_the_evidence():
    """Silent nameserver addresses: check_consistency ends with the domain's deadline, record and policy evidence kept."""
    with ZoneServer(RECORDS) as server:
        options = audit_core.AuditOptions(nameservers=[DNS_IP], dns_port=server.port, timeout=5.0,
                                          check_consistency=True, allow_private_addresses=True)
        started = time.monotonic()
        result = ShortDeadline(1.5, options).audit_domains(['a.test'])[0]
        elapsed = time.monotonic() - started
    assert elapsed < 2.5, elapsed
    assert 'audit-timeout' not in _codes(result) and 'txt-consistency-unknown' in _codes(result)
    assert result['record']['id'] == '20240501e' and result['policy']['host'] == 'mta-sts.a.test'
    assert result['record']['consistency']['zone'] == 'test'
    assert result['record']['consistency']['servers'][0]['address'] == SILENT_NS_IP


def test_domain_past_its_deadline_keeps_what_was_found():
    class Stuck(ShortDeadline):
        async def _audit_into(self, result, deadline):
            result['record'] = {'id': 'kept'}
            await audit_core.asyncio.sleep(30)

    with ZoneServer(RECORDS) as server:
        options = audit_core.AuditOptions(nameservers=[DNS_IP], dns_port=server.port, timeout=1.0)
        started = time.monotonic()
        results = Stuck(0.5, options).audit_domains(['a.test', 'b.test'])
        elapsed = time.monotonic() - started
    assert elapsed < 2, elapsed
    for result in results:
        assert result['status'] == 'unknown' and _codes(result) == ['audit-timeout']
        assert result['record'] == {'id': 'kept'}
        assert 0.5 <= result['duration'] < 2  # the time it took until it was given up on


def test_unexpected_exception_is_audit_error_for_that_domain_only():
    class Exploding(audit_core.Auditor):
        def _check_record(self, lookup, findings):
            if lookup.name.endswith('b.test'):
                raise ZeroDivisionError('boom')
            return audit_core.Auditor._check_record(self, lookup, findings)

    with ZoneServer(RECORDS) as server:
        options = audit_core.AuditOptions(nameservers=[DNS_IP], dns_port=server.port, timeout=2.0)
        results = Exploding(options).audit_domains(['a.test', 'b.test'])
    assert 'audit-error' not in _codes(results[0])
    assert results[1]['status'] == 'unknown' and _codes(results[1])[-1] == 'audit-error'
    assert 'ZeroDivisionError: boom' in results[1]['findings'][-1]['message']


def test_no_thread_is_left_behind():
    before = set(threading.enumerate())
    with ZoneServer(RECORDS) as server:
        _auditor(server.port, check_consistency=True, allow_private_addresses=True,
                 timeout=0.5).audit_domains(['a.test', 'gone.test', 'nomx.test'])
        left = [t for t in threading.enumerate() if t not in before and t is not server.thread]
    assert left == []


def test_several_processes_give_the_same_results_in_input_order():
    values = ['a.test', 'b.test', 'c.test', 'nomx.test', 'gone.test', 'not a domain', 'private.test', 'B.test.']
    with ZoneServer(RECORDS) as server:
        one = _auditor(server.port, processes=1).audit_domains(values)
        three = _auditor(server.port, processes=3).audit_domains(values)
    for results in (one, three):
        for result in results:
            result.pop('duration', None)
            if result['policy']:
                result['policy'].pop('elapsed', None)
    assert [r['input'] for r in three] == values
    assert three == one


def test_automatic_process_count_is_one_for_small_work():
    assert audit_core.process_count(0, 10) == 1
    assert audit_core.process_count(0, 10 * audit_core.DOMAINS_PER_PROCESS) == min(os.cpu_count() or 1, 10)
    assert audit_core.process_count(4, 2) == 2
    assert audit_core.process_count(1, 10000) == 1


def test_audit_processes_die_with_their_parent(tmp_path):
    """A parent killed mid-audit (an AWX job cancelled) leaves no audit process behind."""
    import signal
    import subprocess

    script = tmp_path / 'parent.py'
    script.write_text(
        'import sys\n'
        'from ansible_collections.mailsec.mta_sts.plugins.module_utils import audit\n'
        'options = audit.AuditOptions(nameservers=[%r], dns_port=9, timeout=30.0, processes=2)\n'
        'audit.Auditor(options).audit_domains(["a%%d.test" %% n for n in range(20)])\n' % SILENT_NS_IP)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    parent = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        children = []
        deadline = time.monotonic() + 20
        while len(children) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                with open('/proc/%d/task/%d/children' % (parent.pid, parent.pid)) as handle:
                    children = [int(pid) for pid in handle.read().split()]
            except OSError:
                break
        assert len(children) == 2, children
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(os.path.exists('/proc/%d' % pid) for pid in children):
        time.sleep(0.1)
    alive = [pid for pid in children if os.path.exists('/proc/%d' % pid)
             and open('/proc/%d/stat' % pid).read().split()[2] != 'Z']
    assert alive == []
