# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The newcomer guide followed literally: every command below is taken from the guide (the test fails when the
guide no longer says it) and run as written - the offline install into a fresh virtual environment with only what
the guide downloads, the first audit on the lab, the sample inventory, the reports, the failing job - and the
AWX job template's settings through ansible-runner.

Two substitutions only: the lab is the test session's lab (its directory replaces /tmp/mta-sts-lab, its slot its
addresses), and HOME is the test's directory (so ~/mta-sts and ~/.ansible are there). Remediation is followed in
tests/integration/test_deploy.py (the remediate playbook against the deploy lab)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os
import re
import shutil
import subprocess
import sys

import ansible_runner
import pytest
import yaml

from playbook_runner import REPO_ROOT, tool

GUIDE = os.path.join(REPO_ROOT, 'docs', 'docsite', 'rst', 'newcomer_guide.rst')
AWX_GUIDE = os.path.join(REPO_ROOT, 'docs', 'docsite', 'rst', 'awx.rst')
GUIDE_LAB = '/tmp/mta-sts-lab'


def commands(path):
    """The `$ ` lines of the guide's console blocks, without comments."""
    with open(path, encoding='utf-8') as handle:
        lines = [line.strip()[2:] for line in handle if line.strip().startswith('$ ')]
    return [re.sub(r'\s+# .*$', '', line).strip() for line in lines]


class Guide(object):

    def __init__(self, workdir, lab_dir):
        self.workdir = workdir
        self.lab_dir = lab_dir
        self.commands = commands(GUIDE)
        self.venv = os.path.join(workdir, 'mta-sts')

    def env(self):
        """A shell as a newcomer has it: nothing of the test's Ansible settings, HOME in the test's directory."""
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith('ANSIBLE_') and k != 'PYTHONPATH')
        env.update({'HOME': self.workdir, 'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_LOCALHOST_WARNING': 'false',
                    'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'false'})
        env['PATH'] = os.pathsep.join([os.path.join(self.venv, 'bin'), os.path.dirname(sys.executable),
                                       env.get('PATH', '')])
        return env

    def run(self, command, expect_rc=0, timeout=900):
        assert command in self.commands, 'the guide no longer says: %s' % command
        shell = command.replace(GUIDE_LAB, self.lab_dir)
        proc = subprocess.run(['bash', '-c', shell], cwd=self.workdir, env=self.env(), capture_output=True,
                              text=True, timeout=timeout, check=False)
        if expect_rc is not None and proc.returncode != expect_rc:
            pytest.fail('%s exited %d\n--- stdout ---\n%s\n--- stderr ---\n%s' % (
                command, proc.returncode, proc.stdout[-6000:], proc.stderr[-4000:]), pytrace=False)
        return proc


@pytest.fixture(scope='module')
def guide(tmp_path_factory, lab_info):
    workdir = str(tmp_path_factory.mktemp('guide'))
    # What a newcomer has: the files the guide copies to the machine, and the sample files of the checkout.
    shutil.copy(os.path.join(REPO_ROOT, 'requirements.txt'), workdir)
    shutil.copytree(os.path.join(REPO_ROOT, 'docs', 'samples'), os.path.join(workdir, 'docs', 'samples'))
    return Guide(workdir, lab_info['dir'])


@pytest.fixture(scope='module')
def installed(guide):
    """Section 1, literally: build, download, then install offline into a fresh venv."""
    proc = subprocess.run([tool('ansible-galaxy'), 'collection', 'build', '--output-path', guide.workdir, REPO_ROOT],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert 'ansible-galaxy collection build' in guide.commands
    guide.run("python3 -m pip download -d wheels 'ansible-core>=2.16,<2.20' -r requirements.txt")
    guide.run('python3 -m venv ~/mta-sts && . ~/mta-sts/bin/activate')
    guide.run("python3 -m pip install --no-index --find-links wheels 'ansible-core>=2.16,<2.20' -r requirements.txt")
    tarball = [c for c in guide.commands if c.startswith('ansible-galaxy collection install --offline')][0]
    assert glob.glob(os.path.join(guide.workdir, tarball.split()[-1]))
    install = guide.run(tarball)
    proc = guide.run('ansible-doc mailsec.mta_sts.audit')
    assert 'MAILSEC.MTA_STS.AUDIT' in proc.stdout.upper()
    # The tools are the fresh venv's, and the collection the one installed from the tarball.
    assert os.path.exists(os.path.join(guide.venv, 'bin', 'ansible-playbook'))
    assert "to '%s/.ansible/collections/ansible_collections/mailsec/mta_sts'" % guide.workdir in install.stdout, \
        install.stdout
    return guide


def test_offline_install_then_a_first_audit_of_the_lab(installed):
    proc = installed.run('ansible-playbook mailsec.mta_sts.audit -e @/tmp/mta-sts-lab/lab-vars.yml')
    assert re.search(r'EDCA-TLS-025: FAIL - \d+ domains: \d+ pass', proc.stdout)
    assert 'MAIN FINDING' in proc.stdout


def test_without_inventory_the_audit_says_what_to_pass(installed):
    proc = installed.run('ansible-playbook mailsec.mta_sts.audit', expect_rc=None)
    assert proc.returncode != 0 and 'No domains to audit' in proc.stdout
    assert 'mailsec_mta_sts_domains_file=domains.yml' in proc.stdout


@pytest.fixture(scope='module')
def options(installed):
    installed.run("grep -v '^  - \\|^mailsec_mta_sts_domains:' /tmp/mta-sts-lab/lab-vars.yml > lab-options.yml")
    return installed


def test_a_domains_file_and_the_sample_inventory(options):
    proc = options.run('ansible-playbook mailsec.mta_sts.audit -e mailsec_mta_sts_domains_file=docs/samples/domains.yml'
                       ' -e @lab-options.yml')
    assert 'EDCA-TLS-025: FAIL - 3 domains: 2 pass, 1 fail' in proc.stdout
    proc = options.run('ansible-playbook mailsec.mta_sts.audit -i docs/samples/accepted-domains.mta_sts.yml '
                       '-e @lab-options.yml')
    assert 'EDCA-TLS-025: FAIL - 5 domains: 2 pass, 2 fail, 1 unknown, 0 skipped' in proc.stdout
    recap = proc.stdout[proc.stdout.index('PLAY RECAP'):]
    assert re.search(r'txt-missing\.test\s*: ok=\d+\s+changed=1', recap)
    assert 'contoso.onmicrosoft.com' not in recap


def test_reports_and_a_failing_job(options):
    options.run('ansible-playbook mailsec.mta_sts.audit -i docs/samples/accepted-domains.mta_sts.yml '
                '-e @lab-options.yml -e mailsec_mta_sts_report_dir=reports')
    proc = options.run('ls reports')
    assert proc.stdout.split() == ['mta-sts-report.csv', 'mta-sts-report.html', 'mta-sts-report.json',
                                   'mta-sts-report.junit.xml', 'mta-sts-report.md']
    with open(os.path.join(options.workdir, 'reports', 'mta-sts-report.json'), encoding='utf-8') as handle:
        assert len(json.load(handle)['domains']) == 5
    with open(GUIDE, encoding='utf-8') as handle:
        assert '-e mailsec_mta_sts_fail_on=fail' in handle.read()
    proc = subprocess.run(['bash', '-c', 'ansible-playbook mailsec.mta_sts.audit -i docs/samples/accepted-domains.'
                           'mta_sts.yml -e @lab-options.yml -e mailsec_mta_sts_fail_on=fail'],
                          cwd=options.workdir, env=options.env(), capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    recap = proc.stdout[proc.stdout.index('PLAY RECAP'):]
    assert re.search(r'txt-missing\.test\s*: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=1', recap)
    assert re.search(r'pass-enforce\.test\s*: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0', recap)


def test_the_awx_job_template_settings_through_ansible_runner(options):
    """The "audit nightly" template of the AWX guide: its extra variables, run as AWX runs a job."""
    with open(AWX_GUIDE, encoding='utf-8') as handle:
        awx = handle.read()
    assert 'mailsec_mta_sts_report_dir: /shared/mta-sts/nightly\n   mailsec_mta_sts_show_table: false' in awx
    with open(os.path.join(options.workdir, 'lab-options.yml'), encoding='utf-8') as handle:
        extravars = yaml.safe_load(handle)
    report_dir = os.path.join(options.workdir, 'nightly')  # /shared/mta-sts/nightly
    extravars.update({'mailsec_mta_sts_report_dir': report_dir, 'mailsec_mta_sts_show_table': False})
    private = os.path.join(options.workdir, 'awx-job')
    os.makedirs(private)
    env = options.env()
    env['ANSIBLE_COLLECTIONS_PATH'] = os.path.join(options.workdir, '.ansible', 'collections')
    job = ansible_runner.run(private_data_dir=private, playbook=os.path.join(REPO_ROOT, 'playbooks', 'audit.yml'),
                             inventory=os.path.join(options.workdir, 'docs', 'samples', 'accepted-domains.mta_sts.yml'),
                             extravars=extravars, envvars=env, quiet=True, timeout=600)
    assert job.status == 'successful', job.stdout.read()[-3000:]
    assert 'EDCA-TLS-025: FAIL - 5 domains' in job.stdout.read()
    artifact = [e for e in job.events if e['event'] == 'playbook_on_stats'][-1]['event_data']['artifact_data']
    assert artifact['mailsec_mta_sts_status'] == 'fail'
    assert os.path.join(report_dir, 'mta-sts-report.html') in artifact['mailsec_mta_sts_report_files']
