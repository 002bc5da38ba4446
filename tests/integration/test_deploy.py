# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The deploy role and the remediate playbook, through real ansible-playbook runs against tests/lab/deploy_lab.py.

Real BIND (RFC 2136 + TSIG), nginx, PowerDNS (sqlite3), pebble (ACME) and moto (Route 53) on loopback.
The tests of one domain build on each other and run in file order; the lab lives for the module.

The playbooks run in a private mount namespace whose /etc/resolv.conf names the lab's BIND, so that
community.dns.wait_for_txt finds the lab's authoritative servers as it would on the Internet (it asks
the system resolver for their addresses). Nothing outside that namespace sees the change.
With MTA_STS_DEPLOY_LAB_DIR set, a deploy lab already running there is reused and left running.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import pytest

LAB_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', 'lab'))
if LAB_DIR not in sys.path:
    sys.path.insert(0, LAB_DIR)

import deploy_lab  # noqa: E402

dns = pytest.importorskip('dns.resolver')
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rdatatype  # noqa: E402

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BIN = os.path.dirname(sys.executable)
RECAP = re.compile(r'^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)'
                   r'\s+rescued=(\d+)\s+ignored=(\d+)', re.M)
DEPLOY_PLAYBOOK = """---
- name: Deploy MTA-STS (test)
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - mailsec.mta_sts.deploy
"""


class Run(object):
    def __init__(self, proc, elapsed):
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.elapsed = elapsed
        found = RECAP.findall(self.output)
        if not found:
            self.stats = None
        else:
            names = ('ok', 'changed', 'unreachable', 'failed', 'skipped', 'rescued', 'ignored')
            self.stats = dict(zip(names, (int(value) for value in found[-1])))

    @property
    def changed(self):
        return self.stats['changed']

    def __repr__(self):
        return 'rc=%s stats=%s in %.1fs\n%s' % (self.rc, self.stats, self.elapsed, self.output[-6000:])


def _tool(name):
    local = os.path.join(BIN, name)
    return local if os.path.exists(local) else shutil.which(name) or name


def _namespace_works():
    if os.geteuid() != 0 or not shutil.which('unshare'):
        return False
    probe = subprocess.run(['unshare', '--mount', '--propagation', 'private', 'true'], capture_output=True, check=False)
    return probe.returncode == 0


class Lab(object):
    def __init__(self, info, workdir):
        self.info = info
        self.dir = info['dir']
        self.workdir = workdir
        self.namespace = _namespace_works()
        self.playbook = os.path.join(workdir, 'deploy.yml')
        with open(self.playbook, 'w') as handle:
            handle.write(DEPLOY_PLAYBOOK)
        self.env = dict(os.environ)
        self.env.setdefault('ANSIBLE_COLLECTIONS_PATH', os.pathsep.join(_collections_path()))
        self.env.update(ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_PIPELINING='1',
                        ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_RETRY_FILES_ENABLED='false',
                        PATH=BIN + os.pathsep + self.env.get('PATH', ''))
        self.env.pop('ANSIBLE_STDOUT_CALLBACK', None)

    def _wrap(self, argv):
        if not self.namespace:
            return argv
        return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
                'mount --bind "$0" /etc/resolv.conf && exec "$@"', self.info['resolv_conf']] + argv

    def _argv(self, playbook=None, extra=None, check=False, diff=False, verbosity=0):
        extra = dict(extra or {})
        if not self.namespace:
            extra.setdefault('mailsec_mta_sts_dns_wait', False)
        argv = [_tool('ansible-playbook'), playbook or self.playbook, '-e', 'ansible_python_interpreter=%s' % sys.executable,
                '-e', '@' + os.path.join(self.dir, 'deploy-vars.json'), '-e', json.dumps(extra)]
        if check:
            argv.append('--check')
        if diff:
            argv.append('--diff')
        if verbosity:
            argv.append('-' + 'v' * verbosity)
        return self._wrap(argv)

    def playbook_run(self, playbook=None, extra=None, check=False, diff=False, timeout=240, env=None, verbosity=0):
        started = time.monotonic()
        proc = subprocess.run(self._argv(playbook, extra, check, diff, verbosity), capture_output=True, text=True,
                              env=dict(self.env, **(env or {})), cwd=self.workdir, timeout=timeout, check=False)
        return Run(proc, time.monotonic() - started)

    def spawn(self, output, playbook=None, extra=None, env=None):
        """ansible-playbook in a process group of its own (to be killed), its output going to the file OUTPUT."""
        with open(output, 'wb') as handle:
            return subprocess.Popen(self._argv(playbook, extra), stdin=subprocess.DEVNULL, stdout=handle,
                                    stderr=subprocess.STDOUT, env=dict(self.env, **(env or {})), cwd=self.workdir,
                                    start_new_session=True)

    def deploy(self, domains, **kw):
        extra = kw.pop('extra', {})
        extra['mailsec_mta_sts_deploy_domains'] = domains
        return self.playbook_run(extra=extra, **kw)

    def module(self, name, args, check=False, diff=False):
        """One module run through ansible (ad hoc): its result."""
        env = dict(self.env, ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='ansible.posix.json')
        argv = [_tool('ansible'), 'localhost', '-m', name, '-a', json.dumps(args),
                '-e', 'ansible_python_interpreter=%s' % sys.executable]
        argv += ['--check'] if check else []
        argv += ['--diff'] if diff else []
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=self.workdir, timeout=120, check=False)
        return json.loads(proc.stdout)['plays'][0]['tasks'][0]['hosts']['localhost']

    def audit(self, domains, nameserver=deploy_lab.DNS_IP, require_mode='testing', **options):
        """The audit module's result per domain, against the lab's DNS."""
        args = {'domains': domains, 'nameservers': [nameserver], 'dns_port': deploy_lab.DNS_PORT,
                'allow_private_addresses': True,
                'ca_path': self.info['ca_path'], 'timeout': 5, 'require_mode': require_mode}
        args.update(options)
        result = self.module('mailsec.mta_sts.audit', args)
        assert not result.get('failed'), result
        return dict((entry['domain'], entry) for entry in result['domains'])

    def txt(self, name, server=deploy_lab.DNS_IP):
        query = dns.message.make_query(name, 'TXT')
        reply = dns.query.udp(query, server, port=deploy_lab.DNS_PORT, timeout=2)
        return sorted(b''.join(rdata.strings).decode() for rrset in reply.answer
                      if rrset.rdtype == dns.rdatatype.TXT for rdata in rrset)

    def address(self, name, server=deploy_lab.DNS_IP):
        reply = dns.query.udp(dns.message.make_query(name, 'A'), server, port=deploy_lab.DNS_PORT, timeout=2)
        return sorted(rdata.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A for rdata in rrset)

    def fetch(self, domain, address=deploy_lab.WEB_IP):
        """(status line, headers, body, peer certificate) of the policy URL, with a plain TLS client."""
        host = 'mta-sts.' + domain
        context = ssl.create_default_context(cafile=self.info['ca_path'])
        with socket.create_connection((address, 443), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                tls.sendall(('GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n'
                             % host).encode())
                data = b''
                while True:
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                cert = tls.getpeercert()
        head, _sep, body = data.partition(b'\r\n\r\n')
        lines = head.decode('latin-1').split('\r\n')
        headers = dict(line.split(': ', 1) for line in lines[1:] if ': ' in line)
        return lines[0], headers, body.decode('utf-8'), cert

    def vhost(self, domain):
        return os.path.join(self.info['nginx']['conf_dir'], 'mta-sts.%s.conf' % domain)

    def policy_file(self, domain):
        return os.path.join(self.dir, 'www', domain, '.well-known', 'mta-sts.txt')


def _collections_path():
    """This collection (from its ansible_collections/ parent) and the collections of the running venv."""
    paths = []
    parent = os.path.dirname(os.path.dirname(os.path.dirname(REPO_ROOT)))
    if os.path.basename(os.path.dirname(os.path.dirname(REPO_ROOT))) == 'ansible_collections':
        paths.append(parent)
    import ansible_collections  # noqa: F401 - the collections of the `ansible` package
    paths.extend(os.path.dirname(path) for path in ansible_collections.__path__)
    return paths


def _read(path):
    with open(path) as handle:
        return handle.read()


def _sts_id(lab, domain, server=deploy_lab.DNS_IP):
    records = [text for text in lab.txt('_mta-sts.' + domain, server) if text.startswith('v=STSv1')]
    assert len(records) == 1, records
    return re.search(r'id=([A-Za-z0-9]+)', records[0]).group(1)


def _policy_id(text):
    from ansible_collections.mailsec.mta_sts.plugins.module_utils.policy import policy_id
    return policy_id(text)


@pytest.fixture(scope='module')
def lab():
    if os.geteuid() != 0:
        pytest.skip('the deploy lab needs root (ports 53, 80 and 443)')
    given = os.environ.get('MTA_STS_DEPLOY_LAB_DIR')
    workdir = tempfile.mkdtemp(prefix='mta-sts-deploy-run-')
    if given and deploy_lab.running(given):
        yield Lab(deploy_lab.load(given), workdir)
        shutil.rmtree(workdir, ignore_errors=True)
        return
    root = given or tempfile.mkdtemp(prefix='mta-sts-deploy-lab-')
    try:
        info = deploy_lab.start(root)
    except deploy_lab.LabError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield Lab(info, workdir)
    finally:
        deploy_lab.stop(root)
        shutil.rmtree(workdir, ignore_errors=True)
        if not given:
            shutil.rmtree(root, ignore_errors=True)


NOTHING = {'domain': 'dl-nothing.test', 'tlsrpt_rua': ['mailto:tlsrpt@dl-nothing.test']}


# --- RFC 2136 (BIND): a domain with nothing, through the remediation playbook -------------------------

def test_remediate_turns_a_domain_with_nothing_into_pass(lab):
    before = lab.audit(['dl-nothing.test'])['dl-nothing.test']
    assert before['status'] == 'fail'
    assert 'txt-missing' in [finding['code'] for finding in before['findings']]
    assert lab.txt('_mta-sts.dl-nothing.test') == []

    run = lab.playbook_run('mailsec.mta_sts.remediate', {'mailsec_mta_sts_deploy_domains': [NOTHING]})
    assert run.rc == 0, run
    assert run.changed > 0, run

    after = lab.audit(['dl-nothing.test'])['dl-nothing.test']
    assert after['status'] == 'pass', after['findings']
    assert [f['code'] for f in after['findings'] if f['severity'] == 'error'] == []
    status, headers, body, _cert = lab.fetch('dl-nothing.test')
    assert status.endswith('200 OK') and headers['Content-Type'] == 'text/plain'
    assert body == 'version: STSv1\nmode: testing\nmx: mx1.dl-nothing.test\nmax_age: 604800\n'
    assert after['record']['id'] == _sts_id(lab, 'dl-nothing.test') == _policy_id(body)
    assert lab.txt('_smtp._tls.dl-nothing.test') == ['v=TLSRPTv1; rua=mailto:tlsrpt@dl-nothing.test']
    assert lab.address('mta-sts.dl-nothing.test') == [deploy_lab.WEB_IP]


def test_remediate_second_run_changes_nothing(lab):
    run = lab.playbook_run('mailsec.mta_sts.remediate', {'mailsec_mta_sts_deploy_domains': [NOTHING]})
    assert run.rc == 0, run
    assert run.changed == 0, run
    # The role itself, not only the playbook that skips passing domains, is idempotent.
    run = lab.deploy([NOTHING])
    assert run.rc == 0, run
    assert run.changed == 0, run


def test_policy_change_gets_a_new_id_that_the_audit_sees(lab):
    old_id = _sts_id(lab, 'dl-nothing.test')
    run = lab.deploy([dict(NOTHING, max_age=1209600)])
    assert run.rc == 0, run
    assert run.changed >= 2, run  # the policy file and the TXT record
    new_id = _sts_id(lab, 'dl-nothing.test')
    assert new_id != old_id
    _status, _headers, body, _cert = lab.fetch('dl-nothing.test')
    assert 'max_age: 1209600\n' in body
    assert _policy_id(body) == new_id
    audited = lab.audit(['dl-nothing.test'])['dl-nothing.test']
    assert audited['status'] == 'pass'
    assert audited['record']['id'] == new_id
    assert audited['policy']['max_age'] == 1209600
    # Back to the earlier policy: its id comes back, because the id follows the content.
    run = lab.deploy([NOTHING])
    assert run.rc == 0, run
    assert _sts_id(lab, 'dl-nothing.test') == old_id


def test_broken_web_config_is_rolled_back_and_the_old_policy_keeps_serving(lab):
    old_body = lab.fetch('dl-nothing.test')[2]
    old_vhost = _read(lab.vhost('dl-nothing.test'))
    old_id = _sts_id(lab, 'dl-nothing.test')
    run = lab.deploy([dict(NOTHING, max_age=2419200, nginx_extra_directives=['this_is_not_an_nginx_directive on;'])])
    assert run.rc != 0, run
    assert 'unknown directive "this_is_not_an_nginx_directive"' in run.output
    assert 'the previous web configuration and policy were restored, DNS was not touched' in run.output
    assert _read(lab.vhost('dl-nothing.test')) == old_vhost
    assert os.listdir(lab.info['nginx']['conf_dir']) == ['mta-sts.dl-nothing.test.conf']  # no backup for nginx to include
    assert _read(lab.policy_file('dl-nothing.test')) == old_body
    status, _headers, body, _cert = lab.fetch('dl-nothing.test')
    assert status.endswith('200 OK') and body == old_body
    assert _sts_id(lab, 'dl-nothing.test') == old_id
    # nginx still accepts its configuration (the pending reload ran against the restored file).
    test = subprocess.run(lab.info['nginx']['commands']['test'], capture_output=True, text=True, check=False)
    assert test.returncode == 0, test.stderr


def test_failed_https_check_restores_the_policy_and_leaves_dns_alone(lab):
    old_body = lab.fetch('dl-nothing.test')[2]
    old_id = _sts_id(lab, 'dl-nothing.test')
    # A valid configuration that serves nothing: nginx -t passes, the HTTPS check does not.
    run = lab.deploy([dict(NOTHING, max_age=2419200, nginx_extra_directives=['return 404;'])],
                     extra={'mailsec_mta_sts_verify_retries': 1})
    assert run.rc != 0, run
    assert 'policy-http-status' in run.output
    assert 'DNS was not touched' in run.output
    status, _headers, body, _cert = lab.fetch('dl-nothing.test')
    assert status.endswith('200 OK') and body == old_body
    assert _read(lab.policy_file('dl-nothing.test')) == old_body
    assert _sts_id(lab, 'dl-nothing.test') == old_id
    assert lab.audit(['dl-nothing.test'])['dl-nothing.test']['status'] == 'pass'


def test_bad_tsig_key_fails_clearly_and_changes_nothing(lab):
    nsupdate = dict(lab.info['role_vars']['mailsec_mta_sts_nsupdate'], key_secret='c2VjcmV0IHRoYXQgaXMgd3Jvbmc=')
    run = lab.deploy([{'domain': 'dl-badkey.test'}], extra={'mailsec_mta_sts_nsupdate': nsupdate})
    assert run.rc != 0, run
    assert 'dl-badkey.test (preflight, nothing was changed)' in run.output
    assert 'TSIG' in run.output and 'key_secret' in run.output
    assert 'c2VjcmV0IHRoYXQgaXMgd3Jvbmc=' not in run.output  # no_log
    assert not os.path.exists(lab.vhost('dl-badkey.test'))
    assert not os.path.exists(os.path.join(lab.dir, 'www', 'dl-badkey.test'))
    assert lab.txt('_mta-sts.dl-badkey.test') == []
    assert lab.address('mta-sts.dl-badkey.test') == []


def test_check_mode_changes_nothing(lab):
    run = lab.deploy([{'domain': 'dl-check.test'}], check=True, diff=True)
    assert run.rc == 0, run
    assert run.changed > 0, run  # it reports what would change ...
    assert '+version: STSv1' in run.output  # ... with the policy's diff
    assert not os.path.exists(lab.vhost('dl-check.test'))  # ... and changes nothing
    assert not os.path.exists(os.path.join(lab.dir, 'www', 'dl-check.test'))
    assert lab.txt('_mta-sts.dl-check.test') == []
    assert lab.address('mta-sts.dl-check.test') == []
    # A pending change to a deployed domain is reported, not made.
    old_id = _sts_id(lab, 'dl-nothing.test')
    old_body = _read(lab.policy_file('dl-nothing.test'))
    run = lab.deploy([dict(NOTHING, mode='enforce')], check=True, diff=True)
    assert run.rc == 0, run
    assert '-mode: testing' in run.output and '+mode: enforce' in run.output
    assert _read(lab.policy_file('dl-nothing.test')) == old_body
    assert _sts_id(lab, 'dl-nothing.test') == old_id


ENFORCE = {'domain': 'dl-enforce.test'}
ENFORCE_RUA = ['mailto:tlsrpt@dl-enforce.test']


def _readiness(lab, domain, **options):
    """The audit's enforce readiness of DOMAIN as the role asks for it (MX STARTTLS checked): (ready, codes)."""
    audited = lab.audit([domain], check_mx_tls=True, smtp_port=deploy_lab.SMTP_PORT, **options)[domain]
    return audited['enforce_ready'], sorted(set(blocker['code'] for blocker in audited['enforce_blockers']))


def _state(lab, domain):
    """What senders and the web server have now: the TXT id, the policy served over HTTPS, the files."""
    return {'id': _sts_id(lab, domain), 'served': lab.fetch(domain)[2], 'policy': _read(lab.policy_file(domain)),
            'vhost': _read(lab.vhost(domain)), 'tlsrpt': lab.txt('_smtp._tls.' + domain)}


def _failure_line(run, domain):
    """The role's final failure line for DOMAIN."""
    found = re.search(r'MTA-STS was not deployed for \d+ domain\(s\): (.*?)"?$', run.output, re.M)
    assert found, run
    lines = [line for line in found.group(1).split(' | ') if line.startswith(domain + ' (')]
    assert len(lines) == 1, found.group(1)
    return lines[0]


def test_enforce_is_refused_when_a_live_mx_host_is_not_covered(lab):
    # The domain as it often is before remediation: in testing, one MX host left out, no TLS-RPT.
    run = lab.deploy([dict(ENFORCE, mx=['mx1.dl-enforce.test'])])
    assert run.rc == 0, run
    assert 'MX hosts mx2.dl-enforce.test are not covered by the mx patterns' in run.output
    assert _readiness(lab, 'dl-enforce.test') == (False, ['mx-not-covered', 'tlsrpt-missing'])
    before = _state(lab, 'dl-enforce.test')

    run = lab.deploy([dict(ENFORCE, mode='enforce', mx=['mx1.dl-enforce.test'])])
    assert run.rc != 0, run
    assert 'Refusing mode enforce for dl-enforce.test' in run.output
    assert 'mx2.dl-enforce.test' in run.output
    line = _failure_line(run, 'dl-enforce.test')
    assert line.startswith('dl-enforce.test (preflight, nothing was changed)')
    assert 'mx-not-covered: MX host mx2.dl-enforce.test matches no mx pattern' in line
    assert 'tlsrpt-missing: no record beginning with' in line and '_smtp._tls.dl-enforce.test' in line
    assert run.changed == 0, run
    assert _state(lab, 'dl-enforce.test') == before


def test_enforce_is_refused_until_the_audit_says_ready(lab):
    before = _state(lab, 'dl-enforce.test')
    # The new policy covers every live MX host (its patterns come from the MX records): the live policy's
    # uncovered host is no blocker any more, the missing TLS-RPT record still is.
    run = lab.deploy([dict(ENFORCE, mode='enforce')])
    assert run.rc != 0, run
    line = _failure_line(run, 'dl-enforce.test')
    assert line.startswith('dl-enforce.test (preflight, nothing was changed): Refusing to switch dl-enforce.test to mode '
                           'enforce: the audit says it is not ready (1 blocker(s)) - tlsrpt-missing: ')
    assert 'mx-not-covered' not in line
    assert 'ENFORCE OVERRIDE:' not in run.output
    assert run.changed == 0, run
    assert _state(lab, 'dl-enforce.test') == before


def test_enforce_after_remediation_and_refused_on_reported_failures(lab):
    # Remediation, still in testing: every MX host covered, TLS-RPT published by the role.
    run = lab.deploy([dict(ENFORCE, tlsrpt_rua=ENFORCE_RUA)])
    assert run.rc == 0, run
    assert lab.txt('_smtp._tls.dl-enforce.test') == ['v=TLSRPTv1; rua=mailto:tlsrpt@dl-enforce.test']
    assert _readiness(lab, 'dl-enforce.test') == (True, [])
    before = _state(lab, 'dl-enforce.test')
    assert 'mode: testing\n' in before['served']

    # What senders reported (the `domains` of mailsec.mta_sts.tlsrpt_info): failures make it not ready.
    summary = {'dl-enforce.test': {'successful_sessions': 120, 'failed_sessions': 3,
                                   'failure_types': {'certificate-expired': 2, 'starttls-not-supported': 1},
                                   'malformed_reports': 0}}
    assert _readiness(lab, 'dl-enforce.test', tlsrpt_summary=summary) == (False, ['tlsrpt-reported-failures'])
    run = lab.deploy([dict(ENFORCE, mode='enforce', tlsrpt_rua=ENFORCE_RUA)],
                     extra={'mailsec_mta_sts_tlsrpt_summary': summary})
    assert run.rc != 0, run
    line = _failure_line(run, 'dl-enforce.test')
    assert 'Refusing to switch dl-enforce.test to mode enforce' in line
    assert 'tlsrpt-reported-failures: senders reported 3 failed session(s) (2 certificate-expired, 1 starttls-not-supported)' in line
    assert run.changed == 0, run
    assert _state(lab, 'dl-enforce.test') == before

    # Clean reports (or none given): the role switches to enforce.
    clean = {'dl-enforce.test': {'successful_sessions': 120, 'failed_sessions': 0, 'failure_types': {}}}
    run = lab.deploy([dict(ENFORCE, mode='enforce', tlsrpt_rua=ENFORCE_RUA)],
                     extra={'mailsec_mta_sts_tlsrpt_summary': clean})
    assert run.rc == 0, run
    assert 'ENFORCE OVERRIDE:' not in run.output
    audited = lab.audit(['dl-enforce.test'], require_mode='enforce')['dl-enforce.test']
    assert audited['status'] == 'pass', audited['findings']
    assert sorted(audited['policy']['mx']) == ['mx1.dl-enforce.test', 'mx2.dl-enforce.test']
    assert audited['policy']['mode'] == 'enforce'
    assert _sts_id(lab, 'dl-enforce.test') == _policy_id(lab.fetch('dl-enforce.test')[2]) != before['id']
    # In enforce already: no readiness audit, nothing to change.
    run = lab.deploy([dict(ENFORCE, mode='enforce', tlsrpt_rua=ENFORCE_RUA)])
    assert run.rc == 0, run
    assert run.changed == 0, run


def test_enforce_override_switches_loudly(lab):
    domain = 'dl-override.test'
    run = lab.deploy([{'domain': domain, 'mx': ['mx1.%s' % domain]}])
    assert run.rc == 0, run
    assert _readiness(lab, domain) == (False, ['mx-not-covered', 'tlsrpt-missing'])
    run = lab.deploy([{'domain': domain, 'mode': 'enforce', 'enforce_override': True}],
                     env={'ANSIBLE_SHOW_CUSTOM_STATS': 'true'})
    assert run.rc == 0, run
    # At the domain, with every blocker's code and message, and again at the end of the run.
    assert ('ENFORCE OVERRIDE: %s switches to mode enforce although the audit says it is not ready' % domain) in run.output
    assert '  tlsrpt-missing: no record beginning with' in run.output and '_smtp._tls.%s' % domain in run.output
    assert 'ENFORCE OVERRIDE: switched to mode enforce although the audit said not ready:' in run.output
    assert '  %s - tlsrpt-missing' % domain in run.output
    # ... and in the role's results, published with set_stats.
    stats = json.loads(run.output.split('CUSTOM STATS:', 1)[1].split('RUN:', 1)[1].strip().splitlines()[0])
    overrides = stats['mailsec_mta_sts_enforce_overrides']
    assert [entry['domain'] for entry in overrides] == [domain]
    assert [blocker['code'] for blocker in overrides[0]['enforce_override']] == ['tlsrpt-missing']
    assert [entry['enforce_override'] for entry in stats['mailsec_mta_sts_deploy_results']] == [overrides[0]['enforce_override']]
    audited = lab.audit([domain], require_mode='enforce')[domain]
    assert audited['status'] == 'pass', audited['findings']
    assert audited['policy']['mode'] == 'enforce'
    # The override does not lift the coverage check: enforce with an MX host left out is still refused.
    run = lab.deploy([{'domain': domain, 'mode': 'enforce', 'mx': ['mx1.%s' % domain], 'enforce_override': True}])
    assert run.rc != 0, run
    assert 'Refusing mode enforce for %s' % domain in run.output


def test_repairing_a_domain_in_enforce_is_not_a_switch(lab):
    # dl-override.test is in enforce, still without TLS-RPT. Someone breaks its virtual host: the audit cannot
    # read the policy any more, but senders hold the enforce policy of the policy file. Repairing is no switch.
    domain = 'dl-override.test'
    vhost = _read(lab.vhost(domain))
    with open(lab.vhost(domain), 'w') as handle:
        handle.write(vhost.replace('charset off;', 'charset off;\n        return 503;'))
    subprocess.run(lab.info['nginx']['commands']['reload'], check=True)
    deadline = time.monotonic() + 10
    while lab.fetch(domain)[0].split(' ', 2)[1] != '503':
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert lab.audit([domain])[domain]['status'] == 'fail'
    run = lab.deploy([{'domain': domain, 'mode': 'enforce'}])
    assert run.rc == 0, run
    assert 'Refusing' not in run.output and 'ENFORCE OVERRIDE:' not in run.output
    assert _read(lab.vhost(domain)) == vhost
    assert lab.audit([domain], require_mode='enforce')[domain]['status'] == 'pass'


def test_static_target_writes_only_the_policy_file(lab):
    static_root = lab.info['nginx']['static_root']
    # No web address given: the HTTPS check finds mta-sts.dl-static.test through the lab's DNS, like the audit.
    run = lab.deploy([{'domain': 'dl-static.test', 'web_target': 'static', 'web_root': static_root,
                       'web_addresses': []}])
    assert run.rc == 0, run
    assert not os.path.exists(lab.vhost('dl-static.test'))
    assert os.path.exists(os.path.join(static_root, '.well-known', 'mta-sts.txt'))
    assert lab.audit(['dl-static.test'])['dl-static.test']['status'] == 'pass'


def test_acme_certificate_from_pebble(lab):
    entry = {'domain': 'dl-acme.test', 'cert_source': 'acme'}
    run = lab.deploy([entry])
    assert run.rc == 0, run
    _status, _headers, body, cert = lab.fetch('dl-acme.test')
    issuer = dict(item for rdn in cert['issuer'] for item in rdn)
    assert issuer['commonName'].startswith('Pebble Intermediate CA')
    assert lab.audit(['dl-acme.test'])['dl-acme.test']['status'] == 'pass'
    run = lab.deploy([entry])
    assert run.rc == 0, run
    assert run.changed == 0, run  # the certificate is valid for long enough: no new order


def test_apache_target_and_its_rollback(lab):
    if not lab.info.get('apache'):
        pytest.skip('apache2 is not installed: the deploy lab runs without Apache')
    extra = {'mailsec_mta_sts_web_target': 'apache', 'mailsec_mta_sts_web_addresses': [deploy_lab.APACHE_IP]}
    entry = {'domain': 'dl-apache.test'}
    run = lab.deploy([entry], extra=extra)
    assert run.rc == 0, run
    status, headers, old_body, _cert = lab.fetch('dl-apache.test', deploy_lab.APACHE_IP)
    assert status.endswith('200 OK') and headers['Content-Type'] == 'text/plain'
    assert lab.audit(['dl-apache.test'])['dl-apache.test']['status'] == 'pass'
    old_id = _sts_id(lab, 'dl-apache.test')
    run = lab.deploy([dict(entry, max_age=86400, apache_extra_directives=['ThisIsNotAnApacheDirective on'])], extra=extra)
    assert run.rc != 0, run
    assert "Invalid command 'ThisIsNotAnApacheDirective'" in run.output
    assert lab.fetch('dl-apache.test', deploy_lab.APACHE_IP)[2] == old_body
    assert _sts_id(lab, 'dl-apache.test') == old_id
    run = lab.deploy([entry], extra=extra)
    assert run.rc == 0, run
    assert run.changed == 0, run


# --- PowerDNS (pdns_server, sqlite3) -------------------------------------------------------------------

PDNS = {'mailsec_mta_sts_dns_provider': 'powerdns', 'mailsec_mta_sts_nameservers': [deploy_lab.PDNS_IP]}


def test_powerdns_path(lab):
    entry = {'domain': 'dl-pdns.test', 'tlsrpt_rua': ['mailto:tlsrpt@dl-pdns.test']}
    assert lab.audit(['dl-pdns.test'], nameserver=deploy_lab.PDNS_IP)['dl-pdns.test']['status'] == 'fail'
    run = lab.deploy([entry], extra=PDNS)
    assert run.rc == 0, run
    audited = lab.audit(['dl-pdns.test'], nameserver=deploy_lab.PDNS_IP)['dl-pdns.test']
    assert audited['status'] == 'pass', audited['findings']
    assert audited['record']['id'] == _policy_id(lab.fetch('dl-pdns.test')[2])
    assert lab.txt('_smtp._tls.dl-pdns.test', deploy_lab.PDNS_IP) == ['v=TLSRPTv1; rua=mailto:tlsrpt@dl-pdns.test']
    run = lab.deploy([entry], extra=PDNS)
    assert run.rc == 0, run
    assert run.changed == 0, run


def test_powerdns_record_module_against_pdns_server(lab):
    pdns = lab.info['pdns']
    args = {'api_url': pdns['api_url'], 'api_key': pdns['api_key'], 'zone': 'dl-pdns.test', 'name': 'module-test',
            'type': 'TXT', 'value': ['first value', 'x' * 300], 'ttl': 120}
    planned = lab.module('mailsec.mta_sts.powerdns_record', args, check=True, diff=True)
    assert planned['changed'] is True and planned['before'] is None
    assert 'first value' in planned['diff']['after']
    assert lab.txt('module-test.dl-pdns.test', deploy_lab.PDNS_IP) == []  # check mode changed nothing
    created = lab.module('mailsec.mta_sts.powerdns_record', args)
    assert created['changed'] is True
    assert lab.txt('module-test.dl-pdns.test', deploy_lab.PDNS_IP) == sorted(['first value', 'x' * 300])
    again = lab.module('mailsec.mta_sts.powerdns_record', args)
    assert again['changed'] is False  # PowerDNS split the long value in 255-octet strings: still equal
    assert lab.module('mailsec.mta_sts.powerdns_record', dict(args, ttl=300))['changed'] is True
    removed = lab.module('mailsec.mta_sts.powerdns_record', dict(args, state='absent', value=None))
    assert removed['changed'] is True and removed['after'] is None
    assert lab.txt('module-test.dl-pdns.test', deploy_lab.PDNS_IP) == []
    assert lab.module('mailsec.mta_sts.powerdns_record', dict(args, state='absent', value=None))['changed'] is False
    assert pdns['api_key'] not in json.dumps(created)


def test_powerdns_wrong_api_key_fails_clearly(lab):
    extra = dict(PDNS, mailsec_mta_sts_powerdns=dict(lab.info['role_vars']['mailsec_mta_sts_powerdns'],
                                                     api_key='not-the-key'))
    run = lab.deploy([{'domain': 'dl-pdns.test', 'max_age': 86400}], extra=extra)
    assert run.rc != 0, run
    assert 'refused the API key (HTTP 401)' in run.output
    assert 'not-the-key' not in run.output
    assert 'max_age: 604800' in lab.fetch('dl-pdns.test')[2]  # preflight: nothing was changed


# --- Route 53 (moto's server) ----------------------------------------------------------------------------

def _route53_records(lab, domain):
    import boto3
    r53 = lab.info['route53']
    client = boto3.client('route53', endpoint_url=r53['endpoint_url'], region_name=r53['region'],
                          aws_access_key_id=r53['access_key'], aws_secret_access_key=r53['secret_key'])
    sets = client.list_resource_record_sets(HostedZoneId=r53['zones'][domain])['ResourceRecordSets']
    return dict(((entry['Name'].rstrip('.'), entry['Type']), sorted(rr['Value'] for rr in entry['ResourceRecords']))
                for entry in sets)


def test_route53_path(lab):
    pytest.importorskip('boto3')
    # moto serves the Route 53 API, not DNS: no waiting for authoritative servers, no audit; the records are
    # read back through the API instead. The MX patterns are given (no live MX lookup is possible).
    extra = {'mailsec_mta_sts_dns_provider': 'route53', 'mailsec_mta_sts_dns_wait': False,
             'mailsec_mta_sts_audit_after': False}
    entry = {'domain': 'dl-route53.test', 'mx': ['mx1.dl-route53.test'], 'tlsrpt_rua': ['mailto:r@dl-route53.test']}
    run = lab.deploy([entry], extra=extra)
    assert run.rc == 0, run
    served_id = _policy_id(lab.fetch('dl-route53.test')[2])
    records = _route53_records(lab, 'dl-route53.test')
    assert records[('_mta-sts.dl-route53.test', 'TXT')] == ['"v=STSv1; id=%s;"' % served_id]
    assert records[('_smtp._tls.dl-route53.test', 'TXT')] == ['"v=TLSRPTv1; rua=mailto:r@dl-route53.test"']
    assert records[('mta-sts.dl-route53.test', 'A')] == [deploy_lab.WEB_IP]
    run = lab.deploy([entry], extra=extra)
    assert run.rc == 0, run
    assert run.changed == 0, run


def test_remediate_fails_when_a_domain_still_does_not_pass(lab):
    # The Route 53 records live in moto, which serves no DNS: the deployment succeeds, the audit after it
    # cannot see the records, and the playbook must fail and name the domain.
    extra = {'mailsec_mta_sts_dns_provider': 'route53', 'mailsec_mta_sts_dns_wait': False,
             'mailsec_mta_sts_deploy_domains': [{'domain': 'dl-route53.test', 'mx': ['mx1.dl-route53.test']}]}
    run = lab.playbook_run('mailsec.mta_sts.remediate', extra)
    assert run.rc != 0, run
    assert 'Still not passing after remediation: dl-route53.test' in run.output
