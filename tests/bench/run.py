# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: mailsec.mta_sts.audit against checkdmarc and postfix-mta-sts-resolver on one lab.

    .venv/bin/python tests/bench/run.py --n 1000 --n 10000 --loss-runs 0.01,0.05 --hostile --markdown FILE
                                                                # the tables of docs/benchmark.md (make bench)
    .venv/bin/python tests/bench/run.py --check-concurrency     # results identical at 1, 8, 64, 256?
    .venv/bin/python tests/bench/run.py --down DIR              # stop a lab kept with --keep-lab

It builds a lab of max(N) generated domains on loopback (lab.py: BIND and nginx behind delaying
proxies, one ECDSA certificate per policy host, a share of broken domains with a known truth), then
for each N runs, on that same lab:

1. ``mailsec.mta_sts.audit``, all N domains in ONE module call, through a real ansible-playbook run;
2. the same module with one inventory host per domain through Ansible's forks (on a sample);
3. checkdmarc 6.x ``check_mta_sts`` over the domains, one after the other (on a sample);
4. postfix-mta-sts-resolver 1.5.x ``STSResolver.resolve`` under asyncio, --concurrency at a time;

checks every verdict against the lab's truth where the tool judges the case, and prints the table.
``--loss-runs`` then restarts the lab's delay proxy dropping that share of UDP DNS answers and runs our
module and postfix-mta-sts-resolver again on --loss-n domains: a lost datagram must not change a verdict.
``--hostile`` starts the hostile servers of tests/lab/hostile.py and audits every kind (the audit core in
a process of its own): verdicts, wall time against 3 x timeout + 4 s, peak RSS. ``--markdown FILE``
writes every table in Markdown, to paste into docs/benchmark.md.
The peers are installed into their own virtual environment (--peers-venv). Everything the script
starts is stopped by its PID (or its own process group) on exit, error or Ctrl-C.
Not part of the test suite's pass/fail; needs root (port 443 on 127.77.0.x), bind9 and nginx.
"""

from __future__ import absolute_import, division, print_function

import argparse
import io
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import lab as benchlab  # noqa: E402  (lives beside this file)

PEERS = {'checkdmarc': '6.0.4', 'postfix-mta-sts-resolver': '1.5.1'}
OURS = 'mailsec.mta_sts.audit (1 call)'
FORKS = 'mailsec.mta_sts.audit (host/domain, forks)'
CHECKDMARC = 'checkdmarc %s' % PEERS['checkdmarc']
POSTFIX = 'postfix-mta-sts-resolver %s' % PEERS['postfix-mta-sts-resolver']
COMPARE = 'mailsec.mta_sts.audit (--compare tree)'
CHECK_LEVELS = (1, 8, 64, 256)

# What each tool must say for each case of the lab (None: the tool does not judge the case).
OURS_EXPECTED = {
    'good': ('pass', None), 'txt-missing': ('fail', 'txt-missing'),
    'cert-expired': ('fail', 'policy-cert-expired'), 'cert-name-mismatch': ('fail', 'policy-cert-name-mismatch'),
    'cert-untrusted': ('fail', 'policy-cert-untrusted'), 'mx-not-covered': ('fail', 'mx-not-covered'),
    'policy-timeout': ('fail', 'policy-timeout'),
}
CHECKDMARC_EXPECTED = {  # check_mta_sts does not compare the policy with the MX hosts
    'good': 'valid', 'txt-missing': 'no-record', 'cert-expired': 'cert', 'cert-name-mismatch': 'cert',
    'cert-untrusted': 'cert', 'mx-not-covered': None, 'policy-timeout': 'timeout',
}
POSTFIX_EXPECTED = {  # STSResolver.resolve returns a policy; the MX check is the MTA's, at delivery
    'good': 'VALID', 'txt-missing': 'NONE', 'cert-expired': 'FETCH_ERROR', 'cert-name-mismatch': 'FETCH_ERROR',
    'cert-untrusted': 'FETCH_ERROR', 'mx-not-covered': None, 'policy-timeout': 'FETCH_ERROR',
}


class BenchError(Exception):
    pass


class Interrupted(BaseException):
    pass


# -- processes ------------------------------------------------------------------------------------

class Children(object):
    """The tool processes we start, each in its own process group; stopped by that group on the way out."""

    def __init__(self):
        self.running = {}

    def run(self, argv, log_path, env=None, cwd=None, timeout=None, sampler=None):
        with open(log_path, 'ab') as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env=env, cwd=cwd, start_new_session=True)
        self.running[proc.pid] = proc
        if sampler is not None:
            sampler.start(proc.pid)
        try:
            return proc.wait(timeout=timeout)
        finally:
            if sampler is not None:
                sampler.stop()
            self.stop(proc.pid)

    def stop(self, pid):
        proc = self.running.pop(pid, None)
        if proc is None:
            return
        if proc.poll() is None:
            # Ansible's workers start sessions of their own: note every descendant before the tree comes apart.
            descendants = _descendants(pid)
            _signal_group(pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(pid, signal.SIGKILL)
                proc.wait()
            time.sleep(0.2)
            for child, started in descendants:
                if _start_time(child) == started:  # still the process we started, not a reused PID
                    try:
                        os.kill(child, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        elif _group_members(pid):
            _signal_group(pid, signal.SIGKILL)  # what is left in the group it led (an orphaned module)

    def stop_all(self):
        for pid in list(self.running):
            self.stop(pid)


def _signal_group(pgid, signum):
    try:
        os.killpg(pgid, signum)  # the group start_new_session gave this child: only what it started
    except (ProcessLookupError, PermissionError):
        pass


class RssSampler(object):
    """Without GNU time: the largest VmHWM seen among a process tree's members that are not ansible-playbook
    itself (the module processes), read from /proc 20 times a second. Growth in a process's last 50 ms
    can be missed."""

    def __init__(self):
        self.max_kb = 0
        self._stop = threading.Event()
        self._thread = None

    def start(self, pid):
        self._thread = threading.Thread(target=self._run, args=(pid,))
        self._thread.daemon = True
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self, root):
        while not self._stop.is_set():
            todo = list(benchlab.children_of(root))
            while todo:
                pid = todo.pop()
                todo.extend(benchlab.children_of(pid))
                if 'ansible-playbook' in benchlab._cmdline(pid):
                    continue
                try:
                    with open('/proc/%d/status' % pid) as handle:
                        for line in handle:
                            if line.startswith('VmHWM:'):
                                self.max_kb = max(self.max_kb, int(line.split()[1]))
                except OSError:
                    pass
            self._stop.wait(0.05)


def _start_time(pid):
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return int(handle.read().rsplit(') ', 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _descendants(root):
    """(pid, start time) of every process below root, from /proc/<pid>/task/<pid>/children."""
    found = []
    todo = benchlab.children_of(root)
    while todo:
        pid = todo.pop()
        found.append((pid, _start_time(pid)))
        todo.extend(benchlab.children_of(pid))
    return found


def _group_members(pgid):
    members = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as handle:
                    if int(handle.read().rsplit(') ', 1)[1].split()[2]) == pgid:
                        members.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return members


def _on_signal(signum, frame):
    raise Interrupted('signal %d' % signum)


# -- peers' virtual environment -------------------------------------------------------------------

def ensure_peers_venv(path, log):
    marker = os.path.join(path, '.mailsec-bench-peers')
    wanted = ' '.join('%s==%s' % item for item in sorted(PEERS.items()))
    python = os.path.join(path, 'bin', 'python')
    if os.path.exists(marker) and open(marker).read().strip() == wanted and os.path.exists(python):
        return python
    log('peers: creating %s with %s (once)' % (path, wanted))
    if not os.path.exists(python):
        subprocess.check_call([sys.executable, '-m', 'venv', path])
    pip_log = os.path.join(path, 'pip-install.log')
    with open(pip_log, 'ab') as handle:
        code = subprocess.call([python, '-m', 'pip', 'install', '-q', '--disable-pip-version-check']
                               + wanted.split(), stdout=handle, stderr=subprocess.STDOUT)
    if code:
        raise BenchError('pip could not install %s into %s; see %s' % (wanted, path, pip_log))
    with open(marker, 'w') as handle:
        handle.write(wanted + '\n')
    return python


# -- running the tools ----------------------------------------------------------------------------

class Runner(object):
    def __init__(self, args, lab, children, log):
        self.args = args
        self.lab = lab
        self.children = children
        self.log = log
        self.root = lab.root
        self.work = os.path.join(self.root, 'runs')
        shutil.rmtree(self.work, ignore_errors=True)  # a reused --lab-dir starts with no old measurements
        os.makedirs(self.work)
        self.python = args.python
        self.playbook_cmd = _find_ansible_playbook(args.python)
        self.time_cmd = '/usr/bin/time' if os.access('/usr/bin/time', os.X_OK) else None  # GNU time: peak RSS
        self.counter = 0
        self._setup_ansible()

    def _setup_ansible(self):
        base = os.path.join(self.root, 'ansible')
        for sub in ('tmp', 'remote-tmp', 'home'):
            os.makedirs(os.path.join(base, sub), exist_ok=True)
        config = os.path.join(base, 'ansible.cfg')
        with open(config, 'w') as handle:
            handle.write('[defaults]\n')
        self.ansible_env = dict(os.environ)
        self.ansible_env.update({
            'ANSIBLE_CONFIG': config,
            'ANSIBLE_CALLBACK_PLUGINS': os.path.join(HERE, 'callback_plugins'),
            'ANSIBLE_CALLBACKS_ENABLED': 'bench_results',
            'ANSIBLE_LOCALHOST_WARNING': 'False',
            'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'False',
            'ANSIBLE_PIPELINING': 'True',
            'ANSIBLE_RETRY_FILES_ENABLED': 'False',
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_HOME': os.path.join(base, 'home'),
            'ANSIBLE_LOCAL_TEMP': os.path.join(base, 'tmp'),
            'ANSIBLE_REMOTE_TEMP': os.path.join(base, 'remote-tmp'),
        })
        self.ansible_env.pop('MAILSEC_BENCH_FULL', None)
        self.localhost_inventory = os.path.join(base, 'localhost.ini')
        with open(self.localhost_inventory, 'w') as handle:
            handle.write('localhost ansible_connection=local\n')
        self.trees = {'main': self._tree(base, 'main', self.args.collection)}
        if self.args.compare:
            self.trees['compare'] = self._tree(base, 'compare', self.args.compare)

    def _tree(self, base, tag, collection):
        """Playbooks next to a collections/ directory holding the tree to measure (a playbook's adjacent
        collections/ comes first in Ansible's search, whatever ANSIBLE_COLLECTIONS_PATH says)."""
        tree = os.path.join(base, tag)
        namespace = os.path.join(tree, 'collections', 'ansible_collections', 'mailsec')
        os.makedirs(namespace, exist_ok=True)
        link = os.path.join(namespace, 'mta_sts')
        if os.path.islink(link):
            os.unlink(link)
        os.symlink(collection, link)
        common = {
            'nameservers': [benchlab.DNS_IP], 'dns_port': self.lab.dns_port, 'ca_path': self.lab.ca_path,
            'timeout': self.args.timeout,
        }
        if _knows_option(collection, 'allow_private_addresses'):
            common['allow_private_addresses'] = True  # the lab is on loopback
        if self.args.processes is not None and _knows_option(collection, 'processes'):
            common['processes'] = self.args.processes
        single = [{
            'name': 'Benchmark: audit every domain in one module call',
            'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
            'tasks': [{'name': 'Audit the domains', 'mailsec.mta_sts.audit': dict(
                common, domains='{{ bench_domains }}', concurrency='{{ bench_concurrency | int }}')}],
        }]
        forks = [{
            'name': 'Benchmark: one host per domain, through the forks',
            'hosts': 'bench', 'gather_facts': False,
            'tasks': [{'name': 'Audit this host\'s domain', 'mailsec.mta_sts.audit': dict(
                common, domains=['{{ inventory_hostname }}'], concurrency=1)}],
        }]
        paths = {'single': os.path.join(tree, 'single.yml'), 'forks': os.path.join(tree, 'forks.yml'),
                 'collections': os.path.join(tree, 'collections')}
        for key, data in (('single', single), ('forks', forks)):
            with open(paths[key], 'w') as handle:
                json.dump(data, handle, indent=1)  # JSON is YAML
        return paths

    def _next(self, name):
        self.counter += 1
        return os.path.join(self.work, '%02d-%s' % (self.counter, name))

    def _wait_quiet(self):
        """Wait (at most --idle-wait s) until other work on the machine uses under --idle-cores CPUs."""
        deadline = time.monotonic() + self.args.idle_wait
        waited = False
        while True:
            lab_before, busy_before = self.lab.cpu_seconds(), machine_busy_seconds()
            time.sleep(2.0)
            lab = sum(self.lab.cpu_seconds().values()) - sum(lab_before.values())
            other = (machine_busy_seconds() - busy_before - lab) / 2.0
            if other <= self.args.idle_cores or time.monotonic() >= deadline:
                if waited or other > self.args.idle_cores:
                    self.log('  other processes use %.1f CPUs%s' % (
                        other, '' if other <= self.args.idle_cores else '; measuring anyway'))
                return other
            if not waited:
                self.log('  waiting for the machine to calm down: other processes use %.1f CPUs' % other)
                waited = True

    def _measured(self, argv, prefix, env, cwd=None, sampler=None):
        """Run argv under /usr/bin/time; wall, CPU and peak RSS of the whole process tree, and the machine's load."""
        time_log = prefix + '.time'
        if self.time_cmd:
            argv = [self.time_cmd, '-o', time_log, '-f', '%e %U %S %M'] + argv
        self._wait_quiet()
        lab_cpu = self.lab.cpu_seconds()
        self.lab.proxy_period()
        busy = machine_busy_seconds()
        udp_errors = udp_receive_errors()
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        rc = self.children.run(argv, prefix + '.log', env=env, cwd=cwd, sampler=sampler)
        wall = time.monotonic() - started
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy = machine_busy_seconds() - busy
        udp_errors = udp_receive_errors() - udp_errors
        proxy = self.lab.proxy_period()
        lab_after = self.lab.cpu_seconds()
        tree_cpu = (children_after.ru_utime - children_before.ru_utime
                    + children_after.ru_stime - children_before.ru_stime)
        measured = {'rc': rc, 'wall_s': wall, 'log': prefix + '.log', 'tree_cpu_s': round(tree_cpu, 2),
                    'lab_cpu_s': round(sum(lab_after.values()) - sum(lab_cpu.values()), 2),
                    'machine_busy_s': round(busy, 2), 'proxy': proxy, 'udp_rcvbuf_errors': udp_errors}
        # CPU time that neither the tool nor the lab used: other people's work on this machine
        measured['other_cpu_s'] = round(max(0.0, busy - tree_cpu - measured['lab_cpu_s']), 2)
        if self.time_cmd and os.path.exists(time_log):
            fields = open(time_log).read().split('\n')[-2].split()
            measured['tree_max_rss_kb'] = int(fields[3])
        return measured

    def _interpreter(self, prefix):
        """A wrapper interpreter that records each module process's own peak RSS (GNU time)."""
        if not self.time_cmd:
            return self.python, None
        rss_log = prefix + '.modules'
        wrapper = prefix + '-python.sh'
        with open(wrapper, 'w') as handle:
            handle.write('#!/bin/sh\nexec %s -a -o %s -f "%%M %%e %%U %%S" %s "$@"\n' % (
                self.time_cmd, rss_log, self.python))
        os.chmod(wrapper, 0o755)
        return wrapper, rss_log

    def _ansible(self, name, tree, kind, inventory, extra_vars, forks, full=False):
        playbook = self.trees[tree][kind]
        prefix = self._next(name)
        interpreter, rss_log = self._interpreter(prefix)
        results_path = prefix + '.results.jsonl'
        env = dict(self.ansible_env, MAILSEC_BENCH_RESULTS=results_path, ANSIBLE_FORKS=str(forks),
                   ANSIBLE_PYTHON_INTERPRETER=interpreter, ANSIBLE_COLLECTIONS_PATH=self.trees[tree]['collections'])
        if full:
            env['MAILSEC_BENCH_FULL'] = '1'
        vars_path = prefix + '.vars.json'
        with open(vars_path, 'w') as handle:
            json.dump(extra_vars, handle)
        argv = [self.playbook_cmd, '-i', inventory, playbook, '-e', '@' + vars_path]
        sampler = None if rss_log else RssSampler()
        measured = self._measured(argv, prefix, env, cwd=os.path.dirname(playbook), sampler=sampler)
        modules = []
        if rss_log and os.path.exists(rss_log):
            for line in open(rss_log):
                fields = line.split()
                if len(fields) == 4 and fields[0].isdigit():
                    modules.append({'max_rss_kb': int(fields[0]), 'wall_s': float(fields[1]),
                                    'cpu_s': float(fields[2]) + float(fields[3])})
        measured['modules'] = modules
        measured['module_max_rss_kb'] = max([m['max_rss_kb'] for m in modules] or [0]) or (
            sampler.max_kb if sampler else None)
        measured['module_cpu_s'] = sum(m['cpu_s'] for m in modules)
        lines = []
        if os.path.exists(results_path):
            lines = [json.loads(line) for line in open(results_path)]
        if lines:  # from the task's start to its last host's result
            measured['task_s'] = max(line['at'] for line in lines) - min(line['task_started'] for line in lines)
        failed = [line for line in lines if line['failed']]
        if measured['rc'] != 0 or failed or not lines:
            raise BenchError('%s failed (rc %s)%s; see %s' % (
                name, measured['rc'], ': ' + failed[0]['msg'] if failed else '', measured['log']))
        measured['results'] = dict((item['domain'], item) for line in lines for item in line['domains'])
        return measured

    def ours_single(self, domains, concurrency, full=False, name='ours', tree='main'):
        return self._ansible(name, tree, 'single', self.localhost_inventory,
                             {'bench_domains': domains, 'bench_concurrency': concurrency}, forks=1, full=full)

    def ours_forks(self, domains):
        prefix = self._next('inventory')
        inventory = prefix + '.ini'
        with open(inventory, 'w') as handle:
            handle.write('[bench]\n' + '\n'.join(domains) + '\n[bench:vars]\nansible_connection=local\n')
        return self._ansible('forks', 'main', 'forks', inventory, {}, forks=self.args.forks)

    def peer(self, tool, python, domains):
        prefix = self._next(tool)
        domains_path = prefix + '.domains.json'
        with open(domains_path, 'w') as handle:
            json.dump(domains, handle)
        out = prefix + '.out.json'
        argv = [python, os.path.join(HERE, 'peers.py'), tool, '--domains', domains_path, '--out', out,
                '--dns', '%s:%d' % (benchlab.DNS_IP, self.lab.dns_port), '--zone', benchlab.ZONE,
                '--ca', self.lab.ca_path, '--timeout', str(self.args.timeout),
                '--concurrency', str(self.args.concurrency)]
        env = dict(os.environ)
        for key in ('REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE', 'PYTHONPATH'):
            env.pop(key, None)
        measured = self._measured(argv, prefix, env)
        if measured['rc'] != 0 or not os.path.exists(out):
            raise BenchError('%s failed (rc %s); see %s' % (tool, measured['rc'], measured['log']))
        with open(out) as handle:
            data = json.load(handle)
        measured['inner_wall_s'] = data['wall_s']  # the domains only, without interpreter start and imports
        measured['process_cpu_s'] = data['cpu_s']
        measured['process_max_rss_kb'] = data['max_rss_kb']
        measured['results'] = data['verdicts']
        return measured


def _knows_option(collection, option):
    """Does the audit module of this tree have ``option``? (a --compare tree may be older)"""
    try:
        with open(os.path.join(collection, 'plugins', 'modules', 'audit.py')) as handle:
            return '\n  %s:\n' % option in handle.read()
    except OSError:
        return False


def machine_busy_seconds():
    """CPU-seconds all CPUs of the machine have been busy since boot (/proc/stat: all but idle and iowait)."""
    with open('/proc/stat') as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / float(os.sysconf('SC_CLK_TCK'))


def describe_tree(path):
    """The tree and, when it is a git work tree, its commit and how many files differ from it."""
    try:
        commit = subprocess.check_output(['git', '-C', path, 'rev-parse', '--short', 'HEAD'],
                                         stderr=subprocess.DEVNULL).decode().strip()
        changed = subprocess.check_output(['git', '-C', path, 'status', '--porcelain', '--untracked-files=no', '.'],
                                          stderr=subprocess.DEVNULL).decode().splitlines()
        return '%s (git %s%s)' % (path, commit, ', %d tracked file(s) modified' % len(changed) if changed else '')
    except (OSError, subprocess.CalledProcessError):
        return path


def udp_receive_errors():
    """The kernel's count of UDP datagrams dropped for a full receive buffer (all processes)."""
    with open('/proc/net/snmp') as handle:
        rows = [line.split() for line in handle if line.startswith('Udp:')]
    return int(rows[1][rows[0].index('RcvbufErrors')])


def _find_ansible_playbook(python):
    candidate = os.path.join(os.path.dirname(python), 'ansible-playbook')
    if os.path.exists(candidate):
        return candidate
    found = shutil.which('ansible-playbook')
    if not found:
        raise BenchError('ansible-playbook not found beside %s nor on PATH' % python)
    return found


# -- verdicts -------------------------------------------------------------------------------------

def agreement(tool, results, truth):
    """(agreeing, judged, mismatches by case) of one tool's results against the lab's truth."""
    agree = judged = 0
    mismatches = {}
    for domain, result in results.items():
        case = truth[domain]
        if tool in (OURS, FORKS, COMPARE):
            status, code = OURS_EXPECTED[case]
            ok = result['status'] == status and (code is None or code in result['codes'])
            got = '%s %s' % (result['status'], ','.join(result['codes']))
        else:
            expected = (CHECKDMARC_EXPECTED if tool == CHECKDMARC else POSTFIX_EXPECTED)[case]
            if expected is None:
                continue
            ok = result['verdict'] == expected
            got = result['verdict'] + (' (%s)' % result['detail'][:80] if result.get('detail') else '')
        judged += 1
        if ok:
            agree += 1
        else:
            mismatches.setdefault(case, {}).setdefault(got, 0)
            mismatches[case][got] += 1
    return agree, judged, mismatches


def same_verdicts(first, second):
    return first == second  # per domain: status and sorted finding codes


# -- the table ------------------------------------------------------------------------------------

def _mb(kb):
    return '%.0f' % (kb / 1024.0) if kb else 'n/a'


def make_row(tool, n, run, sampled, truth):
    """One line of the table. Wall time is the whole process (ansible-playbook run, peer script), start to exit;
    a sample's time is extrapolated as startup + work x N / sample."""
    count = len(run['results'])
    wall = run['wall_s']
    work = run.get('inner_wall_s', run.get('task_s') or wall)
    startup = max(0.0, wall - work)
    wall_n = startup + work * n / float(count) if sampled else wall
    agree, judged, mismatches = agreement(tool, run['results'], truth)
    if tool in (OURS, FORKS, COMPARE):
        rss = run['module_max_rss_kb']
    else:
        rss = run['process_max_rss_kb']
    return {'tool': tool, 'n': n, 'run_on': count, 'sampled': sampled, 'wall_s': wall, 'work_s': work,
            'wall_n_s': wall_n, 'rate': n / wall_n, 'max_rss_kb': rss, 'cpu_s': run.get('tree_cpu_s'),
            'lab_cpu_s': run['lab_cpu_s'], 'other_cpus': (run.get('other_cpu_s') or 0.0) / wall,
            'agree': agree, 'judged': judged, 'mismatches': mismatches,
            'task_s': run.get('task_s'), 'tree_max_rss_kb': run.get('tree_max_rss_kb'),
            'module_wall_s': max([m['wall_s'] for m in run.get('modules') or []] or [None]),
            'module_cpu_s': run.get('module_cpu_s'),
            'proxy_late_ms': (run.get('proxy') or {}).get('late_ms'),
            'dns_dropped': ((run.get('proxy') or {}).get('counts') or {}).get('dns_udp_answers_dropped', 0),
            'udp_rcvbuf_errors': run.get('udp_rcvbuf_errors')}


def print_table(rows, out=sys.stdout):
    ours = dict((row['n'], row) for row in rows if row['tool'] == OURS)
    header = ('tool', 'N', 'run on', 'wall s', 'domains/s', 'peak RSS MB', 'CPU s', 'lab CPU s',
              'others CPUs', 'ours faster by', 'agrees with truth')
    lines = [header]
    for row in rows:
        base = ours.get(row['n'])
        if row['tool'] == OURS:
            ratio = '-'
        else:
            ratio = '%.1fx' % (base['rate'] / row['rate']) if base else 'n/a'
        wall = ('~%.1f*' % row['wall_n_s']) if row['sampled'] else '%.1f' % row['wall_s']
        lines.append((row['tool'], '{:,}'.format(row['n']),
                      '{:,}'.format(row['run_on']) + (' (sample)' if row['sampled'] else ''),
                      wall, '%.1f' % row['rate'], _mb(row['max_rss_kb']),
                      '%.1f' % row['cpu_s'] if row['cpu_s'] is not None else 'n/a', '%.1f' % row['lab_cpu_s'],
                      '%.2f' % row['other_cpus'],
                      ratio, '%d/%d (%.1f%%)' % (row['agree'], row['judged'],
                                                 100.0 * row['agree'] / row['judged'] if row['judged'] else 0)))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    text = []
    for index, line in enumerate(lines):
        text.append('| ' + ' | '.join(str(cell).ljust(widths[i]) for i, cell in enumerate(line)) + ' |')
        if index == 0:
            text.append('|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    print('\n'.join(text), file=out)
    print('wall s: the whole ansible-playbook run / peer process, start to exit. peak RSS: the process doing the '
          'work (for Ansible: the module process, max over hosts). CPU s: that whole process tree. lab CPU s: BIND, '
          'nginx and the delay proxies meanwhile. others CPUs: CPUs busy with processes outside the benchmark.',
          file=out)
    if any(row['sampled'] for row in rows):
        print('* run on a random sample of the N domains and extrapolated: startup + (wall - startup) x N / sample.',
              file=out)
    for row in rows:
        if row['mismatches']:
            print('  %s N=%d disagrees with the truth: %s' % (row['tool'], row['n'], json.dumps(row['mismatches'])),
                  file=out)


def print_notes(rows, out=sys.stdout):
    for row in rows:
        if row['tool'] in (OURS, COMPARE):
            module = ''
            if row['module_wall_s'] is not None:
                module = ' (the module process %.1f s, %.1f CPU s)' % (row['module_wall_s'], row['module_cpu_s'])
            print('  %s N=%s: ansible-playbook wall %.1f s, of which the audit task %.1f s%s; ansible-playbook '
                  'tree peak RSS %s MB; delay proxy timers late by (ms) %s' % (
                      'compared tree' if row['tool'] == COMPARE else 'ours', '{:,}'.format(row['n']), row['wall_s'],
                      row['task_s'] or 0, module, _mb(row['tree_max_rss_kb']),
                      json.dumps(row['proxy_late_ms'])), file=out)
    for row in rows:
        if row['udp_rcvbuf_errors'] or row['dns_dropped']:
            print('  %s N=%s: %d UDP datagram(s) lost to full receive buffers on this machine, %d DNS answer(s) '
                  'dropped by --dns-loss' % (row['tool'], '{:,}'.format(row['n']), row['udp_rcvbuf_errors'] or 0,
                                             row['dns_dropped']), file=out)


def print_growth(rows, out=sys.stdout):
    tools = []
    for row in rows:
        if row['tool'] not in tools:
            tools.append(row['tool'])
    printed = False
    for tool in tools:
        series = sorted((row for row in rows if row['tool'] == tool), key=lambda r: r['n'])
        for small, large in zip(series, series[1:]):
            if not printed:
                print('\nGrowth with N (time per domain constant = linear):', file=out)
                printed = True
            factor = large['n'] / float(small['n'])
            rss = ''
            if small['max_rss_kb'] and large['max_rss_kb']:
                rss = ', peak RSS %s -> %s MB (x%.2f)' % (
                    _mb(small['max_rss_kb']), _mb(large['max_rss_kb']), large['max_rss_kb'] / float(small['max_rss_kb']))
            print('  %s: N x%.0f: wall %.1f -> %.1f s (x%.2f), %.2f -> %.2f ms/domain%s%s' % (
                tool, factor, small['wall_n_s'], large['wall_n_s'], large['wall_n_s'] / small['wall_n_s'],
                1000 * small['wall_n_s'] / small['n'], 1000 * large['wall_n_s'] / large['n'], rss,
                ' (sampled)' if small['sampled'] or large['sampled'] else ''), file=out)


# -- the concurrency check ------------------------------------------------------------------------

def _strip_timings(value):
    if isinstance(value, dict):
        return dict((key, _strip_timings(item)) for key, item in value.items() if key not in ('elapsed', 'duration'))
    if isinstance(value, list):
        return [_strip_timings(item) for item in value]
    return value


def concurrency_check(runner, lab, n, levels, log):
    domains = lab.domains[:n]
    log('concurrency check: %d domains at concurrency %s' % (n, ', '.join(str(level) for level in levels)))
    runs = []
    for level in levels:
        run = runner.ours_single(domains, level, full=True, name='concurrency-%d' % level)
        results = dict((domain, _strip_timings(result)) for domain, result in run['results'].items())
        runs.append((level, run, results))
        log('  concurrency %d: %.1f s' % (level, run['wall_s']))
    reference_level, reference = runs[0][0], runs[0][2]
    lines = ['', 'Results at each concurrency, compared with concurrency %d (whole per-domain results, '
             'elapsed and duration fields removed):' % reference_level,
             '| concurrency | wall s | pass | fail | unknown | domains differing from concurrency %d |'
             % reference_level, '|---|---|---|---|---|---|']
    identical = True
    for level, run, results in runs:
        statuses = {}
        for result in results.values():
            statuses[result['status']] = statuses.get(result['status'], 0) + 1
        differing = sorted(domain for domain in reference if results.get(domain) != reference[domain])
        differing += sorted(set(results) - set(reference))
        identical = identical and not differing
        lines.append('| %d | %.1f | %d | %d | %d | %s |' % (
            level, run['wall_s'], statuses.get('pass', 0), statuses.get('fail', 0), statuses.get('unknown', 0),
            len(differing) if differing else '0 (identical)'))
        for domain in differing[:5]:
            lines.append('    %s: %s vs %s' % (domain, json.dumps(results.get(domain))[:300],
                                               json.dumps(reference.get(domain))[:300]))
    truth_ok = agreement(OURS, dict((d, {'status': r['status'], 'codes': sorted(f['code'] for f in r['findings'])})
                                    for d, r in reference.items()), lab.truth)
    lines.append('Agreement with the truth at concurrency %d: %d/%d' % (reference_level, truth_ok[0], truth_ok[1]))
    lines.append('IDENTICAL at every concurrency' if identical else 'DIFFERENT results across concurrency settings')
    print('\n'.join(lines))
    return identical


# -- lossy DNS and hostile servers ---------------------------------------------------------------

def print_loss_table(rows, out=sys.stdout):
    print('\nVerdicts with lost DNS datagrams (the delay proxy drops that share of UDP answers; every verdict '
          'must stay right):\n', file=out)
    print('| UDP DNS answers lost | tool | N | right / judged | answers dropped | wall s | domains/s | CPU s |', file=out)
    print('|---|---|---|---|---|---|---|---|', file=out)
    for row in rows:
        print('| %g %% | %s | %s | %d / %d | %s | %.1f | %.1f | %s |' % (
            100 * row['loss'], row['tool'], '{:,}'.format(row['n']), row['agree'], row['judged'],
            '{:,}'.format(row['dns_dropped']), row['wall_s'], row['rate'],
            '%.1f' % row['cpu_s'] if row['cpu_s'] is not None else 'n/a'), file=out)
    for row in rows:
        if row['mismatches']:
            print('  %s at %g %% loss disagrees with the truth: %s' % (
                row['tool'], 100 * row['loss'], json.dumps(row['mismatches'])), file=out)


def run_hostile(args, root, log):
    """Every kind of tests/lab/hostile.py, audited by the audit core in a process of its own."""
    sys.path.insert(0, os.path.join(REPO, 'tests', 'lab'))
    import hostile  # noqa: E402  (the lab's hostile servers)

    timeout = args.hostile_timeout
    special = set(hostile.SMTP_KINDS) | set(hostile.PRIVATE_KINDS)
    good = [hostile.domain_name('good', n) for n in range(8)]
    groups = [
        ('DNS and HTTPS kinds', [hostile.domain_name(kind, 1) for kind in sorted(set(hostile.KINDS) - special)
                                 if kind != 'good'] + good, {}, 3),
        ('SMTP kinds, check_mx_tls (4 more flooding MX hosts)',
         [hostile.domain_name(kind, 1) for kind in sorted(hostile.SMTP_KINDS)]
         + [hostile.domain_name(kind, n) for kind in ('smtpflood250', 'smtpflood220') for n in (2, 3)],
         {'check_mx_tls': True}, 4),
        ('private-address kinds, allow_private_addresses false, check_mx_tls',
         [hostile.domain_name(kind, 1) for kind in sorted(hostile.PRIVATE_KINDS)],
         {'check_mx_tls': True, 'allow_private_addresses': False}, 3),
    ]
    workdir = os.path.join(root, 'hostile')
    log('hostile: starting the servers of tests/lab/hostile.py')
    info = hostile.start_process(workdir, max_seconds=1800)
    rows = []
    try:
        for index, (title, domains, options, stages) in enumerate(groups):
            log('hostile: %s (%d domains)' % (title, len(domains)))
            report = hostile.run_audit_process(domains, info, workdir, timeout=timeout, name='hostile-%d' % index,
                                               **options)
            wrong = []
            for result in report['results']:
                status, codes = hostile.expected(result['domain'])
                if result['status'] != status or not set(codes) <= set(result['codes']):
                    wrong.append('%s: %s %s' % (result['domain'], result['status'], ','.join(result['codes'])))
            limit = stages * timeout + 4.0
            rows.append({'title': title, 'total': len(domains), 'right': len(domains) - len(wrong), 'wrong': wrong,
                         'wall_s': report['process_wall'], 'limit_s': limit,
                         'in_time': report['process_wall'] <= limit, 'max_rss_kb': report['maxrss_kb']})
            log('  %d/%d right, %.1f s (limit %.0f s), %s MB' % (
                rows[-1]['right'], rows[-1]['total'], rows[-1]['wall_s'], limit, _mb(report['maxrss_kb'])))
    finally:
        hostile.stop_process(info)
    return rows


def print_hostile_table(rows, timeout, out=sys.stdout):
    print('\nHostile servers (tests/lab/hostile.py), timeout %g s, the audit core in a process of its own:\n'
          % timeout, file=out)
    print('| kinds | right / total | process wall s | limit s | peak RSS MB |', file=out)
    print('|---|---|---|---|---|', file=out)
    for row in rows:
        print('| %s | %d / %d | %.1f | %.0f%s | %s |' % (
            row['title'], row['right'], row['total'], row['wall_s'], row['limit_s'],
            '' if row['in_time'] else ' (MISSED)', _mb(row['max_rss_kb'])), file=out)
    for row in rows:
        for line in row['wrong'][:10]:
            print('  wrong: %s' % line, file=out)


# -- main -----------------------------------------------------------------------------------------

def _ns(values):
    result = []
    for value in values or []:
        for part in str(value).split(','):
            if part.strip():
                result.append(int(part.replace('_', '')))
    return result


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--n', action='append', help='number of domains; repeat or give a list (1000,10000)')
    parser.add_argument('--dns-latency-ms', type=float, default=20.0, help='delay of every DNS answer (20)')
    parser.add_argument('--https-latency-ms', type=float, default=50.0,
                        help='delay of the first response bytes of every HTTPS connection (50)')
    parser.add_argument('--dns-loss', type=float, default=0.0,
                        help='share of UDP DNS answers the lab drops, as a lossy network does (0)')
    parser.add_argument('--broken-share', type=float, default=0.10,
                        help='share of broken domains (0.10): missing TXT, bad certificates, MX not covered, slow')
    parser.add_argument('--concurrency', type=int, default=64,
                        help='concurrency of our module and of postfix-mta-sts-resolver (64, the module default)')
    parser.add_argument('--timeout', type=float, default=5.0, help='timeout of every tool, in seconds (5)')
    parser.add_argument('--forks', type=int, default=32, help='Ansible forks for the host-per-domain run (32)')
    parser.add_argument('--forks-sample', type=int, default=500,
                        help='the host-per-domain run audits at most this many domains (500)')
    parser.add_argument('--peer-sample', type=int, default=1000,
                        help='checkdmarc (sequential) audits at most this many domains (1000)')
    parser.add_argument('--idle-wait', type=float, default=120.0,
                        help='before each run, wait at most this many seconds for other work on the machine '
                        'to drop under --idle-cores (120)')
    parser.add_argument('--idle-cores', type=float, default=0.25,
                        help='CPUs other processes may use when a run starts (0.25)')
    parser.add_argument('--skip-peers', action='store_true', help='run our module only')
    parser.add_argument('--skip-forks', action='store_true', help='skip the host-per-domain run')
    parser.add_argument('--check-concurrency', action='store_true',
                        help='run our audit at concurrency 1, 8, 64, 256 and compare the results')
    parser.add_argument('--check-n', type=int, default=300, help='domains for --check-concurrency (300)')
    parser.add_argument('--keep-lab', action='store_true', help='leave the lab running and its directory in place')
    parser.add_argument('--lab-size', type=int, help='build the lab with this many domains (default: the largest N); '
                        'with --keep-lab, a lab to measure against by hand')
    parser.add_argument('--lab-dir', help='where to build the lab (default: a new temporary directory)')
    parser.add_argument('--dns-port', type=int, default=benchlab.DNS_PORT,
                        help='UDP/TCP port of the lab resolver on 127.0.0.1 (%d; BIND on the next one)'
                        % benchlab.DNS_PORT)
    parser.add_argument('--peers-venv', default=os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), 'mailsec-mta-sts-bench', 'peers-venv'),
        help='virtual environment for the peers (created once)')
    parser.add_argument('--collection', default=REPO,
                        help='the mailsec.mta_sts tree to measure (default: this working tree); e.g. a copy with a '
                        'proposed change, for a before/after comparison on the same lab')
    parser.add_argument('--compare', metavar='DIR',
                        help='also measure the mailsec.mta_sts tree in DIR (one module call), on the same lab, '
                        'right after ours: a before/after comparison of a change')
    parser.add_argument('--python', default=sys.executable,
                        help='interpreter with ansible-core, dnspython, urllib3, trustme (this one)')
    parser.add_argument('--json', help='also write every measurement to this file')
    parser.add_argument('--markdown', metavar='FILE', help='also write the tables in Markdown to FILE')
    parser.add_argument('--loss-runs', action='append',
                        help='after the main runs, run ours and postfix-mta-sts-resolver again with this share '
                        'of UDP DNS answers dropped; repeat or give a list (0.01,0.05)')
    parser.add_argument('--loss-n', type=int, default=1000, help='domains of each --loss-runs run (1000)')
    parser.add_argument('--hostile', action='store_true',
                        help='also audit every kind of tests/lab/hostile.py (needs ports 25, 53, 443 of 127.66.x)')
    parser.add_argument('--hostile-timeout', type=float, default=2.0, help='timeout of the hostile runs (2)')
    parser.add_argument('--processes', type=int,
                        help='the processes option of our module (default: the module default)')
    parser.add_argument('--down', metavar='DIR', help='stop the lab kept in DIR with --keep-lab, and exit')
    args = parser.parse_args(argv)
    args.n = _ns(args.n)
    args.loss_runs = [float(part) for value in args.loss_runs or [] for part in str(value).split(',') if part.strip()]
    if any(not 0 < loss < 1 for loss in args.loss_runs):
        parser.error('--loss-runs takes shares between 0 and 1 (0.01,0.05)')
    args.collection = os.path.abspath(args.collection)
    if args.compare:
        args.compare = os.path.abspath(args.compare)
    for tree in (args.collection, args.compare):
        if tree and not os.path.exists(os.path.join(tree, 'galaxy.yml')):
            parser.error('%s holds no galaxy.yml: not a mailsec.mta_sts tree' % tree)
    if not args.n and not args.check_concurrency and not args.down:
        args.n = [1000]
    if not 0 <= args.broken_share <= 0.9:
        parser.error('--broken-share must be between 0 and 0.9')
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.down:
        stopped = benchlab.stop_dir(args.down)
        print('stopped %s' % ', '.join('%s (%s)' % item for item in sorted(stopped.items())))
        return 0

    def log(message):
        print('[%s] %s' % (time.strftime('%H:%M:%S'), message), file=sys.stderr)
        sys.stderr.flush()

    if os.geteuid() != 0:
        log('error: the lab needs root: its policy hosts listen on port 443 of 127.77.0.x')
        return 2
    missing = [tool for tool in ('named', 'nginx') if not shutil.which(tool) and not os.path.exists('/usr/sbin/' + tool)]
    if missing:
        log('error: %s not found; install bind9 and nginx (make sysdeps)' % ' and '.join(missing))
        return 2
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    root = os.path.abspath(args.lab_dir) if args.lab_dir else tempfile.mkdtemp(prefix='mailsec-bench-')
    size = max(args.n + ([args.check_n] if args.check_concurrency else []) + [args.lab_size or 0]
               + ([args.loss_n] if args.loss_runs else []))
    lab = benchlab.BenchLab(root, size, dns_latency_ms=args.dns_latency_ms, https_latency_ms=args.https_latency_ms,
                            broken_share=args.broken_share, hold_s=max(60.0, 4 * args.timeout),
                            dns_port=args.dns_port, python=args.python, dns_loss=args.dns_loss)
    children = Children()
    rows = []
    ok = True
    try:
        peers_python = None if args.skip_peers else ensure_peers_venv(args.peers_venv, log)
        log('lab: building %d domains in %s' % (size, root))
        log('lab: built in %.1f s' % lab.build())
        lab.start()
        log('lab: BIND behind a %g ms DNS delay on %s:%d, nginx behind a %g ms HTTPS delay on %s:443, '
            'slow policy hosts on %s:443' % (args.dns_latency_ms, benchlab.DNS_IP, lab.dns_port,
                                             args.https_latency_ms, benchlab.POLICY_IP, benchlab.SLOW_IP))
        runner = Runner(args, lab, children, log)
        if args.check_concurrency:
            ok = concurrency_check(runner, lab, args.check_n, CHECK_LEVELS, log) and ok
        for n in args.n:
            domains = lab.domains[:n]
            log('N=%d: %s, all domains in one module call (concurrency %d)' % (n, OURS, args.concurrency))
            run = runner.ours_single(domains, args.concurrency)
            rows.append(make_row(OURS, n, run, False, lab.truth))
            log('  %.1f s' % run['wall_s'])
            if args.compare:
                log('N=%d: %s, the same with the tree in %s' % (n, COMPARE, args.compare))
                compared = runner.ours_single(domains, args.concurrency, name='compare', tree='compare')
                rows.append(make_row(COMPARE, n, compared, False, lab.truth))
                log('  %.1f s; per-domain results %s' % (compared['wall_s'], 'identical' if same_verdicts(
                    run['results'], compared['results']) else 'DIFFERENT (status or finding codes)'))
            if not args.skip_forks:
                sample = _sample(domains, args.forks_sample, 'forks')
                log('N=%d: %s on %d hosts, forks %d' % (n, FORKS, len(sample), args.forks))
                run = runner.ours_forks(sample)
                rows.append(make_row(FORKS, n, run, len(sample) < n, lab.truth))
                log('  %.1f s' % run['wall_s'])
            if peers_python:
                sample = _sample(domains, args.peer_sample, 'checkdmarc')
                log('N=%d: %s on %d domains, one after the other' % (n, CHECKDMARC, len(sample)))
                run = runner.peer('checkdmarc', peers_python, sample)
                rows.append(make_row(CHECKDMARC, n, run, len(sample) < n, lab.truth))
                log('  %.1f s' % run['wall_s'])
                log('N=%d: %s, concurrency %d' % (n, POSTFIX, args.concurrency))
                run = runner.peer('postfix-mta-sts-resolver', peers_python, domains)
                rows.append(make_row(POSTFIX, n, run, False, lab.truth))
                log('  %.1f s' % run['wall_s'])
        loss_rows = []
        for loss in args.loss_runs:
            log('lab: the delay proxy now drops %g of the UDP DNS answers' % loss)
            lab.set_dns_loss(loss)
            domains = lab.domains[:args.loss_n]
            run = runner.ours_single(domains, args.concurrency, name='loss-%g' % loss)
            loss_rows.append(dict(make_row(OURS, args.loss_n, run, False, lab.truth), loss=loss))
            log('  ours: %d/%d right, %.1f s' % (loss_rows[-1]['agree'], loss_rows[-1]['judged'], run['wall_s']))
            if peers_python:
                run = runner.peer('postfix-mta-sts-resolver', peers_python, domains)
                loss_rows.append(dict(make_row(POSTFIX, args.loss_n, run, False, lab.truth), loss=loss))
                log('  %s: %d/%d right' % (POSTFIX, loss_rows[-1]['agree'], loss_rows[-1]['judged']))
        if args.loss_runs and lab.dns_loss != args.dns_loss:
            lab.set_dns_loss(args.dns_loss)
        hostile_rows = run_hostile(args, root, log) if args.hostile else []
        report = io.StringIO()
        if rows:
            print('\nMTA-STS audit benchmark: DNS latency %g ms, HTTPS latency %g ms, broken share %g, timeout %g s, '
                  'concurrency %d, %d CPUs' % (
                      args.dns_latency_ms, args.https_latency_ms, args.broken_share, args.timeout, args.concurrency,
                      os.cpu_count() or 0), file=report)
            print('collection measured: %s\n' % describe_tree(args.collection), file=report)
            if args.compare:
                print('compared with: %s' % describe_tree(args.compare), file=report)
            print_table(rows, out=report)
            print_notes(rows, out=report)
            print_growth(rows, out=report)
        if loss_rows:
            print_loss_table(loss_rows, out=report)
        if hostile_rows:
            print_hostile_table(hostile_rows, args.hostile_timeout, out=report)
        print(report.getvalue(), end='')
        if args.markdown:
            with open(args.markdown, 'w') as handle:
                handle.write(report.getvalue())
            log('tables written to %s' % args.markdown)
        # the exit status is about our verdicts; a peer's wrong verdicts are a finding of the table, not a failure
        ours = [row for row in rows + loss_rows if row['tool'].startswith('mailsec.mta_sts.audit')]
        ok = ok and all(row['agree'] == row['judged'] for row in ours)
        ok = ok and all(row['right'] == row['total'] and row['in_time'] for row in hostile_rows)
    except (KeyboardInterrupt, Interrupted) as exc:
        log('interrupted (%s): stopping everything' % (str(exc) or 'Ctrl-C'))
        ok = False
    except (BenchError, benchlab.LabError, subprocess.CalledProcessError) as exc:
        log('error: %s' % exc)
        ok = False
    finally:
        # every step on its own, so one failing cleanup never leaves the lab running
        for step in (children.stop_all, lambda: _finish_lab(args, lab, root, log)):
            try:
                step()
            except Exception as exc:  # report and go on with the next step
                log('cleanup: %s: %s' % (type(exc).__name__, exc))
        if args.json:
            with open(args.json, 'w') as handle:
                json.dump({'args': vars(args), 'rows': rows}, handle, indent=1)
    return 0 if ok else 1


def _finish_lab(args, lab, root, log):
    if args.keep_lab:
        log('lab kept running in %s; stop it with: %s %s --down %s' % (root, args.python, __file__, root))
        return
    lab.stop()
    stats = lab.proxy_stats()
    if stats:
        log('delay proxy: CPU %.1f s in all' % stats['cpu_s'])
    shutil.rmtree(root, ignore_errors=True)


def _sample(domains, limit, salt):
    if len(domains) <= limit:
        return list(domains)
    picked = set(random.Random('%s-%d' % (salt, len(domains))).sample(range(len(domains)), limit))
    return [domain for index, domain in enumerate(domains) if index in picked]


if __name__ == '__main__':
    sys.exit(main())
