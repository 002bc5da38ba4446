# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the report and inventory integration tests (no tests here): running ansible-playbook,
ansible-inventory and headless Chromium, and lab records whose TXT text is hostile markup."""

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from playbook_runner import ansible_env, tool

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
PLAYBOOKS = os.path.join(REPO_ROOT, 'playbooks')
TIMEOUT = 600
FORMATS = {'json': '.json', 'junit': '.junit.xml', 'html': '.html', 'csv': '.csv', 'markdown': '.md'}
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason='chromium is not installed')

# A TXT value that runs if a report ever renders it as markup: it renames the page and marks the body.
XSS_SCRIPT = '<script>document.title="XSS";document.body.setAttribute("data-xss","script")</script>'
XSS_IMG = '<img src=x onerror="document.title=\'XSS\';document.body.setAttribute(\'data-xss\',\'img\')">'
XSS_INPUT = '"><svg onload="document.body.setAttribute(\'data-xss\',\'input\')">'
FORMULA_INPUT = '=HYPERLINK("http://attacker.invalid","x")'


def run(command, workdir, env=None, expect_rc=0, timeout=TIMEOUT):
    proc = subprocess.run(command, env=env or ansible_env(workdir), cwd=workdir, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if expect_rc is not None and proc.returncode != expect_rc:
        pytest.fail('%s exited %d (expected %d)\n--- stdout ---\n%s\n--- stderr ---\n%s' % (
            ' '.join(command[:3]), proc.returncode, expect_rc, proc.stdout[-8000:], proc.stderr[-4000:]),
            pytrace=False)
    return proc


def write_vars(workdir, name, data):
    path = os.path.join(workdir, name)
    with open(path, 'w', encoding='utf-8') as handle:
        json.dump(data, handle, ensure_ascii=False)
    return path


def lab_vars(lab_info, **more):
    data = {'mailsec_mta_sts_nameservers': [lab_info['nameserver']], 'mailsec_mta_sts_dns_port': lab_info['dns_port'],
            'mailsec_mta_sts_ca_path': lab_info['ca_path'], 'mailsec_mta_sts_timeout': 3,
            'mailsec_mta_sts_show_table': False}
    data.update(more)
    return data


def playbook_json(workdir, args, expect_rc=0, env_extra=None):
    """ansible-playbook with the ansible.posix.json callback: (parsed output, process)."""
    env = ansible_env(workdir, ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_SHOW_CUSTOM_STATS='true',
                      **(env_extra or {}))
    proc = run([tool('ansible-playbook')] + args, workdir, env=env, expect_rc=expect_rc)
    return json.loads(proc.stdout[proc.stdout.index('{'):]), proc


def task_results(output, name_part):
    """{host: result} of the tasks whose name contains name_part, over every play."""
    found = {}
    for play in output['plays']:
        for task in play['tasks']:
            if name_part in task['task']['name']:
                found.update(task['hosts'])
    return found


def report_paths(directory, basename='mta-sts-report'):
    return dict((fmt, os.path.join(directory, basename + ext)) for fmt, ext in FORMATS.items())


def without_volatile(report):
    """A report's domains as the report action compares them: no timings, DNS answers in a fixed order."""
    from ansible_collections.mailsec.mta_sts.plugins.plugin_utils.report import comparable
    return comparable(report)['domains']


def chromium(args, workdir, timeout=90):
    """Run headless Chromium with a fresh profile; returns the process."""
    profile = tempfile.mkdtemp(prefix='chromium-', dir=workdir)
    command = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync',
               '--user-data-dir=' + profile] + args
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


class HostileRecords(object):
    """TXT records with markup in a lab zone, added by RFC 2136 update with the lab's TSIG key."""

    def __init__(self, lab_info, zone):
        import dns.tsigkeyring
        self.lab = lab_info
        self.zone = zone
        self.domain = 'xss-report.' + zone
        self.keyring = dns.tsigkeyring.from_text({lab_info['tsig']['name']: lab_info['tsig']['secret']})

    def _send(self, update):
        import dns.query
        import dns.rcode
        reply = dns.query.tcp(update, self.lab['nameserver'], port=self.lab['dns_port'], timeout=5)
        assert reply.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(reply.rcode())

    def _update(self):
        import dns.update
        return dns.update.Update(self.zone, keyring=self.keyring, keyname=self.lab['tsig']['name'],
                                 keyalgorithm=self.lab['tsig']['algorithm'])

    def add(self):
        update = self._update()
        owner = '_mta-sts.' + self.domain + '.'
        update.add(owner, 60, 'TXT', '"v=STSv1; id=%s;"' % XSS_SCRIPT.replace('"', '\\"'))
        update.add(owner, 60, 'TXT', '"%s"' % XSS_IMG.replace('"', '\\"'))
        self._send(update)

    def remove(self):
        update = self._update()
        update.delete('_mta-sts.' + self.domain + '.')
        self._send(update)

    def set_txt(self, owner, values):
        """Replace every TXT record at owner (a name in this zone) by values (strings)."""
        update = self._update()
        update.delete(owner + '.', 'TXT')
        for value in values:
            update.add(owner + '.', 60, 'TXT', '"%s"' % value.replace('"', '\\"'))
        self._send(update)
