# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The built collection: the tarball installs offline, ansible-doc renders the new plugins and the role from
it, and its playbooks run by FQCN on the lab."""

import glob
import json
import os
import shutil
import subprocess
import sysconfig

import pytest
import yaml

import scenarios as sc
from test_report_support import REPO_ROOT, ansible_env, lab_vars, report_paths, run, tool, write_vars


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """(collections path with the installed tarball, workdir)."""
    workdir = str(tmp_path_factory.mktemp('build'))
    run([tool('ansible-galaxy'), 'collection', 'build', '--output-path', workdir, REPO_ROOT], workdir)
    tarballs = glob.glob(os.path.join(workdir, 'mailsec-mta_sts-*.tar.gz'))
    assert len(tarballs) == 1
    target = os.path.join(workdir, 'collections')
    run([tool('ansible-galaxy'), 'collection', 'install', '--offline', '--force', '-p', target, tarballs[0]], workdir)
    assert os.path.isfile(os.path.join(target, 'ansible_collections', 'mailsec', 'mta_sts', 'MANIFEST.json'))
    return os.pathsep.join([target, sysconfig.get_paths()['purelib']]), workdir


def env_for(installed, **extra):
    return ansible_env(installed[1], ANSIBLE_COLLECTIONS_PATH=installed[0], **extra)


@pytest.mark.parametrize('kind, name', [('module', 'mailsec.mta_sts.report'), ('inventory', 'mailsec.mta_sts.domains'),
                                        ('role', 'mailsec.mta_sts.audit'), ('module', 'mailsec.mta_sts.audit')])
def test_ansible_doc_renders_the_plugins_of_the_installed_collection(installed, kind, name):
    proc = run([tool('ansible-doc'), '-t', kind, name], installed[1], env=env_for(installed))
    assert name in proc.stdout and 'ERROR' not in proc.stderr
    if kind != 'role':
        assert os.path.join(installed[1], 'collections') in proc.stdout  # the installed copy, not the checkout
    proc = run([tool('ansible-doc'), '-t', kind, '--json', name], installed[1], env=env_for(installed))
    assert json.loads(proc.stdout)


def test_the_installed_playbooks_run_by_fqcn_on_the_lab(installed, lab_info):
    workdir = installed[1]
    report_dir = os.path.join(workdir, 'reports')
    domains = [sc.BY_ID[sid]['input'] for sid in ('pass-enforce', 'txt-missing', 'mx-null', 'servfail')]
    varfile = write_vars(workdir, 'vars.json', lab_vars(
        lab_info, mailsec_mta_sts_domains=domains, mailsec_mta_sts_report_dir=report_dir, mailsec_mta_sts_show_table=True))
    proc = run([tool('ansible-playbook'), 'mailsec.mta_sts.audit', '-e', '@' + varfile], workdir,
               env=env_for(installed))
    assert 'EDCA-TLS-025 Accepted domains publish valid MTA-STS policies: fail' in proc.stdout
    paths = report_paths(report_dir)
    assert all(os.path.getsize(path) > 0 for path in paths.values())
    with open(paths['json'], encoding='utf-8') as handle:
        report = json.load(handle)
    with open(os.path.join(workdir, 'collections', 'ansible_collections', 'mailsec', 'mta_sts', 'MANIFEST.json')) as h:
        assert report['tool']['version'] == json.load(h)['collection_info']['version']
    assert report['verdict']['counts'] == {'pass': 1, 'fail': 1, 'unknown': 1, 'skipped': 1}

    merged_dir = os.path.join(workdir, 'merged')
    varfile = write_vars(workdir, 'merge.json', {'mailsec_mta_sts_report_sources': [paths['json']],
                                                 'mailsec_mta_sts_report_dir': merged_dir,
                                                 'mailsec_mta_sts_report_formats': ['json', 'html']})
    run([tool('ansible-playbook'), 'mailsec.mta_sts.merge_reports', '-e', '@' + varfile], workdir,
        env=env_for(installed))
    with open(report_paths(merged_dir)['json'], encoding='utf-8') as handle:
        assert json.load(handle)['verdict'] == report['verdict']


def test_the_installed_report_action_finds_its_template_and_assets(installed):
    """The HTML page's template, CSS and script ship in the tarball and are read from the installed copy."""
    workdir = installed[1]
    root = os.path.join(workdir, 'collections', 'ansible_collections', 'mailsec', 'mta_sts')
    assets = os.path.join(root, 'plugins', 'plugin_utils', 'report', 'assets')
    assert sorted(os.listdir(assets)) == ['report.css', 'report.html.j2', 'report.js']
    playbook = os.path.join(workdir, 'installed-report.yml')
    dest = os.path.join(workdir, 'installed-report')
    with open(playbook, 'w', encoding='utf-8') as handle:
        handle.write('- hosts: localhost\n  gather_facts: false\n  tasks:\n    - mailsec.mta_sts.report:\n'
                     '        results: {domains: [{domain: a.example, input: a.example, status: pass, findings: []}]}\n'
                     '        dest: %s\n        formats: [html]\n' % dest)
    run([tool('ansible-playbook'), playbook], workdir, env=env_for(installed))
    with open(os.path.join(dest, 'mta-sts-report.html'), encoding='utf-8') as handle:
        page = handle.read()
    with open(os.path.join(assets, 'report.js'), encoding='utf-8') as handle:
        assert '<script>%s</script>' % handle.read() in page
    assert 'id="verdict">PASS<' in page


def test_the_awx_playbook_is_valid(installed):
    proc = run([tool('ansible-playbook'), '--syntax-check', 'mailsec.mta_sts.awx_configure'], installed[1],
               env=env_for(installed))
    assert 'ERROR' not in proc.stderr


def test_the_awx_definitions_are_well_formed():
    with open(os.path.join(REPO_ROOT, 'docs', 'awx', 'credential_types.yml'), encoding='utf-8') as handle:
        types = yaml.safe_load(handle)['credential_types']
    assert len(types) >= 4
    for item in types:
        fields = dict((field['id'], field) for field in item['inputs']['fields'])
        assert set(item['inputs'].get('required', [])) <= set(fields), item['name']
        assert item['kind'] == 'cloud'
        injected = json.dumps(item['injectors'])
        for field_id in fields:
            assert '{{ %s }}' % field_id in injected, (item['name'], field_id)
        assert any(field.get('secret') for field in fields.values()), item['name']
    for name in ('audit_nightly.json', 'remediate.json'):
        with open(os.path.join(REPO_ROOT, 'docs', 'awx', 'surveys', name), encoding='utf-8') as handle:
            survey = json.load(handle)
        assert survey['name'] and survey['spec']
        for question in survey['spec']:
            assert question['variable'].startswith('mailsec_mta_sts_')
            assert question['type'] in ('text', 'textarea', 'multiplechoice', 'integer', 'password')


def test_the_execution_environment_definitions():
    with open(os.path.join(REPO_ROOT, 'execution-environment.yml'), encoding='utf-8') as handle:
        ee = yaml.safe_load(handle)
    assert ee['version'] == 3
    assert ee['dependencies']['ansible_core'] and ee['dependencies']['ansible_runner']
    assert any('mailsec-mta_sts' in step for step in ee['additional_build_steps']['append_galaxy'])
    with open(os.path.join(REPO_ROOT, 'meta', 'execution-environment.yml'), encoding='utf-8') as handle:
        meta = yaml.safe_load(handle)
    for kind in ('python', 'system'):
        assert os.path.isfile(os.path.join(REPO_ROOT, meta['dependencies'][kind]))


@pytest.mark.skipif(shutil.which('ansible-builder') is None, reason='ansible-builder is not installed')
def test_ansible_builder_creates_the_build_context(tmp_path, installed):
    for name in ('execution-environment.yml', 'ee-requirements.txt'):  # the EE definition and its pinned Python libraries
        shutil.copy(os.path.join(REPO_ROOT, name), str(tmp_path))
    for tarball in glob.glob(os.path.join(installed[1], 'mailsec-mta_sts-*.tar.gz')):
        shutil.copy(tarball, str(tmp_path))
    subprocess.run(['ansible-builder', 'create', '-c', str(tmp_path / 'context')], cwd=str(tmp_path), check=True,
                   capture_output=True)
    assert glob.glob(str(tmp_path / 'context' / '_build' / 'collections' / 'mailsec-mta_sts-*.tar.gz'))
