# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The benchmark's lab: N generated domains on loopback, with injected latency and a known truth.

    lab = BenchLab(root, n=10000, dns_latency_ms=20, https_latency_ms=50, broken_share=0.1, hold_s=60)
    lab.build(); lab.start(); ...; lab.stop()

What runs (all on 127.0.0.0/8, everything under ``root``, stopped by PID):

* BIND, authoritative for one zone holding every domain, on 127.0.0.1:DNS_PORT+1;
* delayproxy.py in front of it on 127.0.0.1:DNS_PORT (UDP and TCP; every answer waits dns_latency_ms);
* nginx on POLICY_IP:NGINX_PORT, one server block that loads the certificate named by the client's SNI
  (``ssl_certificate $ssl_server_name``: one ECDSA certificate per policy host, no 10,000 server blocks);
* delayproxy.py on POLICY_IP:443 in front of nginx (TCP, not TLS-terminating: the server's first
  bytes wait https_latency_ms) and on SLOW_IP:443 (accepts, never answers: the slow policy hosts).

The domains are ``d000001.<ZONE>`` ...; ``truth.json`` gives each one's case (see CASES).
"""

from __future__ import absolute_import, division, print_function

import datetime
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lab'))

import labproc  # noqa: E402  (tests/lab: the public directory nginx's workers read the certificates from)

sys.path.pop(0)

ZONE = 'mtasts-bench.test'
# MTA_STS_LAB_SLOT=N moves the bench lab to 127.77.N.x and DNS port 20053 + 2N, as it moves the test lab.
SLOT = int(os.environ.get('MTA_STS_LAB_SLOT') or 0)
DNS_IP = '127.0.0.1'
DNS_PORT = 20053 + 2 * SLOT   # the proxy; BIND listens on DNS_PORT + 1 (the test lab uses 10053)
POLICY_IP = '127.77.%d.1' % SLOT      # proxy on 443, nginx on NGINX_PORT
SLOW_IP = '127.77.%d.2' % SLOT        # proxy that never answers
MX_IP = '127.77.%d.25' % SLOT         # address of the MX hosts; never contacted (check_mx_tls is off)
HTTPS_PORT = 443
NGINX_PORT = 8443
READY_TIMEOUT = 60.0
LAB_NICE = -10                # lab processes run before the tool when both want the CPU (root only)
BLOCK = 1000                  # every block of 1,000 domains has the same mix of cases

# case: what is wrong with the domain, and its weight among the broken domains
CASES = ['good', 'txt-missing', 'cert-expired', 'cert-name-mismatch', 'cert-untrusted', 'mx-not-covered',
         'policy-timeout']
BROKEN_WEIGHTS = {'txt-missing': 4, 'cert-expired': 1, 'cert-name-mismatch': 1, 'cert-untrusted': 1,
                  'mx-not-covered': 2, 'policy-timeout': 1}


class LabError(Exception):
    pass


def _write(path, data, mode=0o644):
    if isinstance(data, str):
        data = data.encode('utf-8')
    with open(path, 'wb') as handle:
        handle.write(data)
    os.chmod(path, mode)


def domain_name(index):
    return 'd%06d.%s' % (index + 1, ZONE)


def assign_cases(n, broken_share, seed=8461):
    """Case of each of n domains: each block of BLOCK domains has the same mix, shuffled with its own seed."""
    per_block = int(round(BLOCK * broken_share))
    total = sum(BROKEN_WEIGHTS.values())
    counts = dict((case, per_block * weight // total) for case, weight in BROKEN_WEIGHTS.items())
    # largest remainder, so the block holds exactly per_block broken domains
    rest = sorted(BROKEN_WEIGHTS, key=lambda c: -(per_block * BROKEN_WEIGHTS[c] % total))
    for case in rest[:per_block - sum(counts.values())]:
        counts[case] += 1
    pattern = ['good'] * (BLOCK - per_block)
    for case in CASES[1:]:
        pattern += [case] * counts[case]
    cases = []
    block = 0
    while len(cases) < n:
        shuffled = list(pattern)
        random.Random('%d-%d' % (seed, block)).shuffle(shuffled)
        cases.extend(shuffled)
        block += 1
    return cases[:n]


def _port_free(ip, port, kind=socket.SOCK_STREAM):
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def _command(name):
    """The path of a server binary: on PATH, else in /usr/sbin (not on every user's PATH)."""
    return shutil.which(name) or os.path.join('/usr/sbin', name)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(') ', 1)[1][0] != 'Z'
    except (OSError, IndexError):
        return False


def proc_cpu_seconds(pid, with_children=True):
    """utime+stime of a process (and its reaped children) from /proc, 0 if gone."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            fields = handle.read().rsplit(') ', 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf('SC_CLK_TCK')
    total = int(fields[11]) + int(fields[12])
    if with_children:
        total += int(fields[13]) + int(fields[14])
    return total / float(ticks)


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            return handle.read().replace(b'\0', b' ').decode('utf-8', 'replace')
    except OSError:
        return ''


def children_of(pid):
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as handle:
            return [int(item) for item in handle.read().split()]
    except OSError:
        return []


class BenchLab(object):
    def __init__(self, root, n, dns_latency_ms=20.0, https_latency_ms=50.0, broken_share=0.1, hold_s=60.0,
                 dns_port=DNS_PORT, python=None, dns_loss=0.0):
        self.root = os.path.abspath(root)
        self.n = n
        self.dns_latency_ms = float(dns_latency_ms)
        self.https_latency_ms = float(https_latency_ms)
        self.broken_share = float(broken_share)
        self.hold_s = float(hold_s)
        self.dns_port = int(dns_port)
        self.dns_loss = float(dns_loss)
        self.python = python or sys.executable
        self.domains = [domain_name(i) for i in range(n)]
        self.cases = assign_cases(n, broken_share)
        self.truth = dict(zip(self.domains, self.cases))
        self.pids = {}
        self.ca_path = os.path.join(self.root, 'ca.pem')
        self.pids_path = os.path.join(self.root, 'pids.json')
        self.certs = None  # the public directory of the policy hosts' certificates, made by build()

    # -- build ------------------------------------------------------------------------------------

    def build(self):
        os.makedirs(self.root, exist_ok=True)
        started = time.monotonic()
        self._make_certs()
        self._write_zone()
        self._write_nginx()
        _write(os.path.join(self.root, 'truth.json'), json.dumps(self.truth))
        return time.monotonic() - started

    def _make_certs(self):
        import trustme

        # nginx's workers (nobody) load each certificate at its handshake: ROOT/certs links to a public_dir.
        certs = self.certs = labproc.public_dir(self.root, 'certs')
        ecdsa = trustme.KeyType.ECDSA
        ca = trustme.CA(organization_name='mailsec bench CA', key_type=ecdsa)
        rogue = trustme.CA(organization_name='mailsec bench rogue CA', key_type=ecdsa)
        _write(self.ca_path, ca.cert_pem.bytes())
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        for domain, case in zip(self.domains, self.cases):
            host = 'mta-sts.' + domain
            if case == 'cert-expired':
                leaf = ca.issue_cert(host, key_type=ecdsa, not_before=now - datetime.timedelta(days=90),
                                     not_after=now - datetime.timedelta(days=1))
            elif case == 'cert-name-mismatch':
                leaf = ca.issue_cert('www.' + domain, key_type=ecdsa)
            elif case == 'cert-untrusted':
                leaf = rogue.issue_cert(host, key_type=ecdsa)
            else:
                leaf = ca.issue_cert(host, key_type=ecdsa)
            _write(os.path.join(certs, host + '.crt'), b''.join(blob.bytes() for blob in leaf.cert_chain_pems))
            _write(os.path.join(certs, host + '.key'), leaf.private_key_pem.bytes())

    def _write_zone(self):
        bind = os.path.join(self.root, 'bind')
        os.makedirs(bind, exist_ok=True)
        lines = ['$ORIGIN %s.' % ZONE, '$TTL 300',
                 '@ IN SOA ns hostmaster 1 3600 600 86400 300', '@ IN NS ns', 'ns IN A %s' % DNS_IP]
        for domain, case in zip(self.domains, self.cases):
            label = domain[:-len(ZONE) - 1]
            if case == 'mx-not-covered':  # an MX host the policy's "mx: mail.<domain>" does not cover
                lines.append('%s IN MX 10 mx.%s.outsourced' % (label, label))
                lines.append('mx.%s.outsourced IN A %s' % (label, MX_IP))
            else:
                lines.append('%s IN MX 10 mail.%s' % (label, label))
                lines.append('mail.%s IN A %s' % (label, MX_IP))
            if case != 'txt-missing':
                lines.append('_mta-sts.%s IN TXT "v=STSv1; id=20240101T000000;"' % label)
            lines.append('mta-sts.%s IN A %s' % (label, SLOW_IP if case == 'policy-timeout' else POLICY_IP))
            lines.append('_smtp._tls.%s IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@%s"' % (label, domain))
        zone_file = os.path.join(bind, ZONE + '.zone')
        _write(zone_file, '\n'.join(lines) + '\n')
        conf = [
            'options {',
            '    directory "%s";' % bind,
            '    pid-file "%s";' % os.path.join(bind, 'named.pid'),
            '    session-keyfile "%s";' % os.path.join(bind, 'session.key'),
            '    managed-keys-directory "%s";' % bind,
            '    listen-on port %d { %s; };' % (self.dns_port + 1, DNS_IP),
            '    listen-on-v6 { none; };',
            '    recursion no;',
            '    allow-query { any; };',
            '    dnssec-validation no;',
            '    notify no;',
            '    check-names primary ignore;',
            '    minimal-responses yes;',
            '};',
            'controls { };',
            'logging { category default { default_stderr; }; category lame-servers { null; }; };',
            'zone "%s" { type primary; file "%s"; };' % (ZONE, zone_file),
        ]
        _write(os.path.join(bind, 'named.conf'), '\n'.join(conf) + '\n')

    def _write_nginx(self):
        prefix = os.path.join(self.root, 'nginx')
        os.makedirs(os.path.join(prefix, 'logs'), exist_ok=True)
        temp = ['    %s_temp_path %s;' % (kind, os.path.join(prefix, 'tmp-' + kind))
                for kind in ('client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi')]
        certs = self.certs
        policy = 'version: STSv1\\nmode: enforce\\nmx: mail.$policy_domain\\nmax_age: 604800\\n'
        conf = [
            'worker_processes 1;',
            'worker_rlimit_nofile 16384;',
            'pid %s;' % os.path.join(prefix, 'nginx.pid'),
            'error_log %s warn;' % os.path.join(prefix, 'logs', 'error.log'),
            'events { worker_connections 8192; }',
            'http {',
            '    access_log off;',
        ] + temp + [
            '    server_tokens off;',
            '    types { }',
            '    default_type application/octet-stream;',
            '    charset off;',
            '    keepalive_timeout 5;',
            '    ssl_protocols TLSv1.2 TLSv1.3;',
            '    server {',
            '        listen %s:%d ssl backlog=4096;' % (POLICY_IP, NGINX_PORT),
            r'        server_name ~^mta-sts\.(?<policy_domain>.+)$;',
            '        # one certificate per policy host, loaded by SNI at each handshake',
            '        ssl_certificate %s/$ssl_server_name.crt;' % certs,
            '        ssl_certificate_key %s/$ssl_server_name.key;' % certs,
            '        location = /.well-known/mta-sts.txt {',
            '            default_type text/plain;',
            '            return 200 "%s";' % policy,
            '        }',
            '        location / { return 404; }',
            '    }',
            '}',
        ]
        _write(os.path.join(prefix, 'nginx.conf'), '\n'.join(conf) + '\n')

    # -- run --------------------------------------------------------------------------------------

    def check_free(self):
        busy = []
        for ip, port in ((DNS_IP, self.dns_port), (DNS_IP, self.dns_port + 1)):
            if not _port_free(ip, port, socket.SOCK_DGRAM) or not _port_free(ip, port):
                busy.append('%s:%d' % (ip, port))
        for ip, port in ((POLICY_IP, HTTPS_PORT), (POLICY_IP, NGINX_PORT), (SLOW_IP, HTTPS_PORT)):
            if not _port_free(ip, port):
                busy.append('%s:%d' % (ip, port))
        if busy:
            raise LabError('ports in use: %s (another benchmark lab still running? stop it with '
                           'run.py --down DIR, or pick --dns-port)' % ', '.join(busy))

    def _spawn(self, name, argv, log):
        handle = open(os.path.join(self.root, log), 'ab')
        if os.geteuid() == 0:  # the lab stands for the far end of the internet: its latency must not depend
            argv = ['nice', '-n', str(LAB_NICE)] + argv  # on how busy the tool keeps the CPUs (exec: same PID)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)  # Ctrl-C goes to us; we stop it by PID
        handle.close()
        self.pids[name] = proc.pid
        self._save_pids()
        return proc

    def _save_pids(self):
        _write(self.pids_path, json.dumps(self.pids))

    def start(self):
        self.check_free()
        self._spawn('named', [_command('named'), '-g', '-n', '1', '-c', os.path.join(self.root, 'bind', 'named.conf')],
                    'named.log')
        prefix = os.path.join(self.root, 'nginx')
        self._spawn('nginx', [_command('nginx'), '-p', prefix, '-c', os.path.join(prefix, 'nginx.conf'),
                              '-e', os.path.join(prefix, 'logs', 'error.log'), '-g', 'daemon off;'], 'nginx.log')
        self._start_proxy()

    def set_dns_loss(self, loss):
        """Restart the delay proxy with another --dns-loss (BIND and nginx keep running)."""
        stop_pids({'delayproxy': self.pids.pop('delayproxy')})
        self.dns_loss = float(loss)
        self._start_proxy()

    def _start_proxy(self):
        ready = os.path.join(self.root, 'proxy.ready')
        if os.path.exists(ready):
            os.unlink(ready)
        self._spawn('delayproxy', [
            self.python, os.path.join(HERE, 'delayproxy.py'), '--stats', os.path.join(self.root, 'proxy-stats.json'),
            '--ready', ready, '--dns-loss', str(self.dns_loss),
            '--dns', '%s:%d=%s:%d:%g' % (DNS_IP, self.dns_port, DNS_IP, self.dns_port + 1, self.dns_latency_ms),
            '--tcp', '%s:%d=%s:%d:%g' % (POLICY_IP, HTTPS_PORT, POLICY_IP, NGINX_PORT, self.https_latency_ms),
            '--hold', '%s:%d:%g' % (SLOW_IP, HTTPS_PORT, self.hold_s)], 'delayproxy.log')
        self._wait_ready(ready)

    def _wait_ready(self, ready):
        import dns.message
        import dns.query

        deadline = time.monotonic() + READY_TIMEOUT
        probe = next(d for d, c in zip(self.domains, self.cases) if c == 'good')
        context = ssl.create_default_context(cafile=self.ca_path)
        last = None
        while time.monotonic() < deadline:
            for name, pid in self.pids.items():
                if not pid_alive(pid):
                    raise LabError('%s exited at start; see %s' % (name, os.path.join(self.root, name + '.log')))
            try:
                if not os.path.exists(ready):
                    raise LabError('delay proxy not listening yet')
                answer = dns.query.udp(dns.message.make_query('_mta-sts.' + probe, 'TXT'), DNS_IP,
                                       port=self.dns_port, timeout=1)
                if not answer.answer:
                    raise LabError('BIND has not loaded the zone yet (rcode %s)' % answer.rcode())
                with socket.create_connection((POLICY_IP, HTTPS_PORT), timeout=2) as raw:
                    with context.wrap_socket(raw, server_hostname='mta-sts.' + probe) as tls:
                        tls.sendall(('GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: mta-sts.%s\r\n\r\n'
                                     % probe).encode('ascii'))
                        reply = tls.recv(4096)
                if b' 200 ' not in reply.split(b'\r\n', 1)[0] or b'mx: mail.' + probe.encode() not in reply:
                    raise LabError('nginx answered %r' % reply[:200])
                return
            except Exception as exc:  # not up yet
                last = exc
                time.sleep(0.2)
        raise LabError('the lab did not become ready in %ds: %s' % (READY_TIMEOUT, last))

    def cpu_seconds(self):
        """CPU used so far by every lab process (nginx workers included)."""
        total = {}
        for name, pid in self.pids.items():
            seconds = proc_cpu_seconds(pid)
            for child in children_of(pid):
                seconds += proc_cpu_seconds(child)
            total[name] = seconds
        return total

    def proxy_stats(self):
        path = os.path.join(self.root, 'proxy-stats.json')
        try:
            with open(path) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def proxy_period(self):
        """The delay proxy's summary since the previous call (SIGUSR1 makes it write one and start anew)."""
        pid = self.pids.get('delayproxy')
        if not pid or not pid_alive(pid):
            return None
        before = (self.proxy_stats() or {}).get('seq', 0)
        os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            stats = self.proxy_stats()
            if stats and stats.get('seq', 0) > before:
                return stats
            time.sleep(0.02)
        return None

    def stop(self):
        stop_pids(self.pids)
        self.pids = {}
        if os.path.isdir(self.root):
            self._save_pids()
            labproc.remove_public(self.root, 'certs')


def stop_pids(pids, grace=10.0):
    """SIGTERM each PID we started (its own session), then SIGKILL what is left after ``grace`` seconds."""
    for name, pid in pids.items():
        if pid_alive(pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for name, pid in pids.items():
        while pid_alive(pid) and time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.05)
        if pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def stop_dir(root):
    """Stop a lab kept with --keep-lab, by the PIDs it recorded."""
    path = os.path.join(root, 'pids.json')
    with open(path) as handle:
        pids = json.load(handle)
    # only processes whose command line names this lab's directory (a PID may have been reused)
    ours = dict((name, int(pid)) for name, pid in pids.items() if os.path.abspath(root) in _cmdline(int(pid)))
    stop_pids(ours)
    _write(path, '{}')
    labproc.remove_public(root, 'certs')
    return pids
