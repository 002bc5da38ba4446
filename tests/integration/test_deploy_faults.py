# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The deploy role under faults, and its secrets, through real ansible-playbook runs against tests/lab/deploy_lab.py.

- Secrets: runs with -vvv (and --diff, --check, a failing run) must not show the TSIG secrets or the PowerDNS
  API key anywhere - not in their output, not in Ansible's log, not in any file written during the runs.
- The DNS provider refuses the update or is down, after the web server already took the new policy: the
  previous policy must be put back, so that what is served matches the id DNS announces (RFC 8461 section 3.1).
- The run is killed (SIGKILL) between the policy write and the DNS update: the next run converges.

The runs are stopped at a given task by a callback plugin written into the run directory (tests only): it
blocks the strategy in v2_playbook_on_task_start, before the task is handed to a worker, until the test
releases it or kills the run. Uses the lab fixture of test_deploy.py (one lab for this module).
"""

from __future__ import absolute_import, division, print_function

import base64
import os
import re
import signal
import socket
import stat
import threading
import time

import test_deploy as base
from test_deploy import deploy_lab

lab = base.lab  # the lab fixture of test_deploy.py: this module gets a lab of its own

HOLD_CALLBACK = '''
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = """
name: hold_at_task
type: aggregate
short_description: tests only - stop the run before a task whose name starts with MTA_STS_HOLD_AT
description: Writes MTA_STS_HOLD_MARKER, then waits until MTA_STS_HOLD_RELEASE exists (or the run is killed).
"""

import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'hold_at_task'
    CALLBACK_NEEDS_ENABLED = True

    def _hold(self, task):
        prefix = os.environ.get('MTA_STS_HOLD_AT')
        name = task.get_name().split(' : ', 1)[-1]  # without the role's name
        if not prefix or not name.startswith(prefix) or os.path.exists(os.environ['MTA_STS_HOLD_MARKER']):
            return
        with open(os.environ['MTA_STS_HOLD_MARKER'], 'w') as handle:
            handle.write(name)
        deadline = time.monotonic() + 120
        while not os.path.exists(os.environ['MTA_STS_HOLD_RELEASE']) and time.monotonic() < deadline:
            time.sleep(0.05)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._hold(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._hold(task)
'''


class Held(object):
    """ansible-playbook started in the background, stopped before the first task whose name starts with PREFIX."""

    def __init__(self, lab, name, prefix, extra):
        self.lab = lab
        folder = os.path.join(lab.workdir, 'callbacks')
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, 'hold_at_task.py'), 'w') as handle:
            handle.write(HOLD_CALLBACK)
        self.marker = os.path.join(lab.workdir, name + '.held')
        self.release_file = os.path.join(lab.workdir, name + '.release')
        self.output = os.path.join(lab.workdir, name + '.out')
        for path in (self.marker, self.release_file):
            if os.path.exists(path):
                os.remove(path)
        env = {'ANSIBLE_CALLBACK_PLUGINS': folder, 'ANSIBLE_CALLBACKS_ENABLED': 'hold_at_task',
               'MTA_STS_HOLD_AT': prefix, 'MTA_STS_HOLD_MARKER': self.marker, 'MTA_STS_HOLD_RELEASE': self.release_file}
        self.proc = lab.spawn(self.output, extra=extra, env=env)

    def wait_until_held(self, timeout=120):
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.marker):
            assert self.proc.poll() is None, 'the run ended before the task was reached:\n' + self.text()
            assert time.monotonic() < deadline, 'the task was not reached in %d s:\n%s' % (timeout, self.text())
            time.sleep(0.05)
        return base._read(self.marker)

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        return self.proc.returncode

    def release(self, timeout=240):
        with open(self.release_file, 'w') as handle:
            handle.write('go')
        self.proc.wait(timeout=timeout)
        return self.proc.returncode

    def text(self):
        with open(self.output, 'rb') as handle:
            return handle.read().decode('utf-8', 'replace')


class DNSRelay(object):
    """A TCP relay at ADDRESS:53 to the lab's BIND: the update server of a test, which the test can take down.

    Down means nothing listens: connections are refused, as from a DNS server that is not running.
    """

    def __init__(self, address=deploy_lab.DOWN_IP, target=(deploy_lab.DNS_IP, deploy_lab.DNS_PORT)):
        self.address = address
        self.target = target
        self.listener = None
        self.open = []
        self.lock = threading.Lock()

    def start(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                listener.bind((self.address, deploy_lab.DNS_PORT))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        listener.listen(16)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener):
        while True:
            try:
                client, _peer = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open += [client, server]
            for one, other in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(one, other), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        if self.listener is not None:
            # shutdown first: close() alone leaves the socket listening while the accept thread is blocked in it
            try:
                self.listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.listener.close()
            self.listener = None
        with self.lock:
            for sock in self.open:
                try:
                    sock.close()
                except OSError:
                    pass
            self.open = []


def _nsupdate(lab, **changes):
    return dict(lab.info['role_vars']['mailsec_mta_sts_nsupdate'], **changes)


def _limited_key(lab):
    limited = lab.info['limited_tsig']
    return _nsupdate(lab, key_name=limited['name'], key_secret=limited['secret'])


def _served_matches_dns(lab, domain):
    """The policy served over HTTPS is the one whose id DNS announces: (id, served policy)."""
    served = lab.fetch(domain)[2]
    announced = base._sts_id(lab, domain)
    assert base._policy_id(served) == announced, (served, announced)
    return announced, served


def _changed_tasks(output):
    """Names of the tasks that reported a change (default callback output)."""
    names = []
    for section in re.split(r'\n(?=TASK \[|RUNNING HANDLER \[)', output):
        head = re.match(r'(?:TASK|RUNNING HANDLER) \[(?:[\w.]+ : )?(.*?)\] \**', section)
        if head and re.search(r'^changed: ', section, re.M):
            names.append(head.group(1))
    return names


def _converged(lab, domain, entry, extra=None):
    """A rerun changes nothing and the audit passes, with the served policy announced."""
    run = lab.deploy([entry], extra=extra or {})
    assert run.rc == 0, run
    assert run.changed == 0, run
    assert lab.audit([domain])[domain]['status'] == 'pass'
    return _served_matches_dns(lab, domain)


# --- secrets ------------------------------------------------------------------------------------------

def _secret_forms(lab):
    """Every secret of the lab the role is handed, as text and as bytes (TSIG secrets also base64-decoded)."""
    texts = {'TSIG secret of %s' % lab.info['tsig']['name']: lab.info['tsig']['secret'],
             'TSIG secret of %s' % lab.info['limited_tsig']['name']: lab.info['limited_tsig']['secret'],
             'PowerDNS API key': lab.info['pdns']['api_key']}
    forms = dict((name, value.encode()) for name, value in texts.items())
    for name in [name for name in texts if name.startswith('TSIG')]:
        forms[name + ' (decoded)'] = base64.b64decode(texts[name])
    return texts, forms


def _files_written_since(roots, since, skip=()):
    seen = set()
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [name for name in dirs if os.path.join(folder, name) not in skip and name != 'proc']
            for name in files:
                path = os.path.join(folder, name)
                try:
                    info = os.lstat(path)
                except OSError:
                    continue
                if stat.S_ISREG(info.st_mode) and info.st_mtime >= since and path not in seen:
                    seen.add(path)
                    yield path, info.st_size


def test_no_secret_in_vvv_output_or_written_files(lab):
    texts, forms = _secret_forms(lab)
    # The scan finds a secret where there is one: the lab's own variables file holds them (written before the runs).
    with open(os.path.join(lab.dir, 'deploy-vars.json'), 'rb') as handle:
        assert forms['PowerDNS API key'] in handle.read()
    home = os.path.join(lab.workdir, 'ansible-home')
    log = os.path.join(lab.workdir, 'ansible-vvv.log')
    env = {'ANSIBLE_HOME': home, 'ANSIBLE_LOCAL_TEMP': os.path.join(home, 'tmp'), 'ANSIBLE_LOG_PATH': log}
    # Files written from now on (the kernel's file clock is coarse: a little margin before the first run).
    since = time.time()
    time.sleep(0.05)
    entry = {'domain': 'dl-secret.test', 'tlsrpt_rua': ['mailto:tlsrpt@dl-secret.test']}
    pdns = dict(base.PDNS)
    runs = [
        ('nsupdate, new domain', dict(extra={}, diff=True), 0),
        ('nsupdate, switch to enforce', dict(extra={}, diff=True, domains=[dict(entry, mode='enforce')]), 0),
        # A key BIND knows but that may not update this zone: the update fails, the rescue asks the provider.
        ('nsupdate, refused', dict(extra={'mailsec_mta_sts_nsupdate': _limited_key(lab)},
                                   domains=[dict(entry, mode='enforce', max_age=86400)]), 2),
        ('nsupdate, check mode', dict(extra={}, check=True, diff=True, domains=[dict(entry, max_age=86400)]), 0),
        ('powerdns, new domain', dict(extra=pdns, diff=True, domains=[{'domain': 'dl-pdns.test'}]), 0),
    ]
    outputs = {}
    for name, options, rc in runs:
        run = lab.deploy(options.pop('domains', [entry]), verbosity=3, env=env, **options)
        assert run.rc == rc, (name, run)
        outputs[name] = run.output
    assert 'Failed to update DNS record' in outputs['nsupdate, refused']
    assert lab.audit(['dl-secret.test'])['dl-secret.test']['status'] == 'pass'
    # -vvv shows every module's arguments: the credentials went through that output, masked.
    assert '"key_secret": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in outputs['nsupdate, new domain']
    assert '"key_secret": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in outputs['nsupdate, refused']
    assert '"api_key": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in outputs['powerdns, new domain']

    leaks = ['%s in the output of the run "%s"' % (secret, name) for name, output in outputs.items()
             for secret, value in texts.items() if value in output]
    assert os.path.getsize(log) > 0
    roots = [lab.dir, lab.workdir, '/tmp', '/var/tmp', os.path.expanduser('~/.ansible')]
    checked = 0
    for path, size in _files_written_since(roots, since):
        if size > 16 * 1024 * 1024:
            continue
        try:
            with open(path, 'rb') as handle:
                data = handle.read()
        except OSError:
            continue
        checked += 1
        leaks += ['%s in %s' % (secret, path) for secret, value in forms.items() if value in data]
    assert checked > 0
    assert leaks == [], '\n'.join(leaks)


# --- the DNS provider rejects the update ---------------------------------------------------------------

FAULT = {'domain': 'dl-dnsfault.test', 'tlsrpt_rua': ['mailto:tlsrpt@dl-dnsfault.test']}


def test_bad_tsig_key_stops_before_any_change_and_a_rerun_with_the_right_key_converges(lab):
    run = lab.deploy([FAULT], extra={'mailsec_mta_sts_nsupdate': _nsupdate(lab, key_secret='d3Jvbmcgc2VjcmV0IGtleQ==')})
    assert run.rc != 0, run
    assert 'dl-dnsfault.test (preflight, nothing was changed): nsupdate cannot work on zone dl-dnsfault.test' in run.output
    assert 'TSIG' in run.output and 'key_secret' in run.output
    assert not os.path.exists(lab.policy_file('dl-dnsfault.test'))
    assert lab.txt('_mta-sts.dl-dnsfault.test') == []
    run = lab.deploy([FAULT])
    assert run.rc == 0, run
    _converged(lab, 'dl-dnsfault.test', FAULT)


def test_dns_refusing_the_new_id_puts_the_previous_policy_back(lab):
    old_id, old_policy = _served_matches_dns(lab, 'dl-dnsfault.test')
    old_vhost = base._read(lab.vhost('dl-dnsfault.test'))
    changed = dict(FAULT, max_age=1209600)
    # The limited key may write the policy host and TLS-RPT records of this zone, not _mta-sts: the preflight
    # (which only reads) passes, the web server takes the new policy, then the id update is REFUSED.
    run = lab.deploy([changed], extra={'mailsec_mta_sts_nsupdate': _limited_key(lab)})
    assert run.rc != 0, run
    line = base._failure_line(run, 'dl-dnsfault.test')
    assert line.startswith('dl-dnsfault.test (announce, DNS did not take the new policy id, so the previous web '
                           'configuration and policy were restored and match the id DNS still announces')
    assert '_mta-sts.dl-dnsfault.test TXT: Failed to update DNS record (rc: 5) (DNS answer REFUSED)' in line
    assert 'allows this key to update the zone' in line
    # The id is unchanged, and what senders fetch over HTTPS is the policy of that id, byte for byte.
    assert _served_matches_dns(lab, 'dl-dnsfault.test') == (old_id, old_policy)
    assert base._read(lab.policy_file('dl-dnsfault.test')) == old_policy
    assert base._read(lab.vhost('dl-dnsfault.test')) == old_vhost
    assert lab.audit(['dl-dnsfault.test'])['dl-dnsfault.test']['status'] == 'pass'
    # With the right key the same change completes, under a new id, and converges.
    run = lab.deploy([changed])
    assert run.rc == 0, run
    new_id, new_policy = _served_matches_dns(lab, 'dl-dnsfault.test')
    assert new_id != old_id and 'max_age: 1209600\n' in new_policy
    _converged(lab, 'dl-dnsfault.test', changed)


DOWN = {'domain': 'dl-down.test'}


def test_dns_server_down_before_and_during_the_update(lab):
    relay = DNSRelay()
    via_relay = {'mailsec_mta_sts_nsupdate': _nsupdate(lab, server=deploy_lab.DOWN_IP)}
    run = lab.deploy([DOWN])
    assert run.rc == 0, run
    old_id, old_policy = _served_matches_dns(lab, 'dl-down.test')
    changed = dict(DOWN, max_age=1209600)

    # Down from the start: the preflight cannot reach it, and nothing changes.
    run = lab.deploy([changed], extra=via_relay)
    assert run.rc != 0, run
    assert 'dl-down.test (preflight, nothing was changed): nsupdate cannot work on zone dl-down.test' in run.output
    assert 'Connection refused' in run.output
    assert _served_matches_dns(lab, 'dl-down.test') == (old_id, old_policy)

    # Up for the preflight, down when the records are written (after the web server took the new policy).
    relay.start()
    try:
        held = Held(lab, 'down', 'Publish the DNS records of dl-down.test', dict(via_relay, mailsec_mta_sts_deploy_domains=[changed]))
        held.wait_until_held()
        assert 'max_age: 1209600\n' in lab.fetch('dl-down.test')[2]  # served, not yet announced
        relay.stop()
        assert held.release() != 0, held.text()
    finally:
        relay.stop()
    output = held.text()
    assert 'dl-down.test (announce, DNS did not take the new policy id, so the previous web configuration and policy ' \
           'were restored' in output, output[-6000:]
    assert 'Connection refused' in output
    assert _served_matches_dns(lab, 'dl-down.test') == (old_id, old_policy)

    # The server is back: the rerun completes the change and converges.
    relay.start()
    try:
        run = lab.deploy([changed], extra=via_relay)
        assert run.rc == 0, run
        new_id, new_policy = _served_matches_dns(lab, 'dl-down.test')
        assert new_id != old_id and 'max_age: 1209600\n' in new_policy
        _converged(lab, 'dl-down.test', changed, extra=via_relay)
    finally:
        relay.stop()


# --- the run is killed --------------------------------------------------------------------------------

KILLED = {'domain': 'dl-killed.test', 'tlsrpt_rua': ['mailto:tlsrpt@dl-killed.test']}


def test_run_killed_before_the_reload_of_a_new_virtual_host_then_rerun_converges(lab):
    # The first deployment, killed after the virtual host and the policy were written, before nginx reloaded.
    held = Held(lab, 'killed-reload', 'Test the nginx configuration before reloading', {'mailsec_mta_sts_deploy_domains': [KILLED]})
    held.wait_until_held()
    assert held.kill() == -signal.SIGKILL
    assert os.path.exists(lab.vhost('dl-killed.test')) and os.path.exists(lab.policy_file('dl-killed.test'))
    assert lab.txt('_mta-sts.dl-killed.test') == []
    # The files are in place, so nothing notifies a reload; the role finds the policy not served and reloads once.
    run = lab.deploy([KILLED], extra={'mailsec_mta_sts_verify_retries': 1})
    assert run.rc == 0, run
    assert 'Test and reload the web server once' in ' '.join(_changed_tasks(run.output))
    _converged(lab, 'dl-killed.test', KILLED)


def test_run_killed_between_the_policy_write_and_the_dns_update_then_rerun_converges(lab):
    old_id, old_policy = _served_matches_dns(lab, 'dl-killed.test')
    changed = dict(KILLED, max_age=1209600)
    held = Held(lab, 'killed-dns', 'Publish the DNS records of dl-killed.test', {'mailsec_mta_sts_deploy_domains': [changed]})
    held.wait_until_held()
    assert held.kill() == -signal.SIGKILL
    # The new policy is served under the old id: DNS was not touched.
    assert 'max_age: 1209600\n' in lab.fetch('dl-killed.test')[2]
    assert base._sts_id(lab, 'dl-killed.test') == old_id
    # The next run finds the web server done and changes the DNS records only (and, once DNS announces the
    # new id, records that announcement in the state file beside the policy).
    run = lab.deploy([changed])
    assert run.rc == 0, run
    changed_tasks = _changed_tasks(run.output)
    assert changed_tasks[0] == 'Ensure the records of zone dl-killed.test', run
    assert [name.split(' (state in ')[0] for name in changed_tasks[1:]] == [
        'Record when dl-killed.test announced its policy id'], run
    assert lab.audit(['dl-killed.test'])['dl-killed.test']['status'] == 'pass'
    new_id, new_policy = _served_matches_dns(lab, 'dl-killed.test')
    assert new_id != old_id and new_policy != old_policy
    _converged(lab, 'dl-killed.test', changed)
