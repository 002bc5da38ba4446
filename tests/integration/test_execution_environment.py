# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""`ansible-builder create` on execution-environment.yml (offline): the build context holds this collection's
tarball and every collection the playbooks and roles call - with the collections those depend on - pinned to the
versions of the `ansible` package the tests run with, and every Python requirement of them, pinned."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os
import re
import shutil
import sysconfig

import pytest
import yaml

from playbook_runner import REPO_ROOT, tool
from test_report_support import run

INSTALLED = os.path.join(sysconfig.get_paths()['purelib'], 'ansible_collections')
# Requirements of collections in the image that no playbook or role of this collection needs (ee-requirements.txt
# says why).
NOT_NEEDED = {'google-cloud-storage', 'awxkit', 'pytz'}


def requirement_name(line):
    line = line.split('#', 1)[0].strip()
    return re.split(r'[<>=!~;\[ ]', line, maxsplit=1)[0].lower().replace('_', '-') if line else None


def installed_collections():
    found = {}
    for manifest in glob.glob(os.path.join(INSTALLED, '*', '*', 'MANIFEST.json')):
        with open(manifest, encoding='utf-8') as handle:
            info = json.load(handle)['collection_info']
        found['%s.%s' % (info['namespace'], info['name'])] = (info, os.path.dirname(manifest))
    return found


def called_collections(collections):
    """Collections whose plugins the roles and playbooks name by FQCN."""
    text = ''
    for pattern in ('roles/**/*.yml', 'playbooks/*.yml'):
        for path in glob.glob(os.path.join(REPO_ROOT, pattern), recursive=True):
            with open(path, encoding='utf-8') as handle:
                text += handle.read()
    return set(name for name in collections if re.search(r'(?<![\w.])%s\.\w' % re.escape(name), text))


def python_requirements(directory):
    """Names of the Python requirements a collection declares for an EE (meta/execution-environment.yml)."""
    paths = []
    meta = os.path.join(directory, 'meta', 'execution-environment.yml')
    if os.path.exists(meta):
        with open(meta, encoding='utf-8') as handle:
            python = (yaml.safe_load(handle).get('dependencies') or {}).get('python')
        if isinstance(python, str):
            paths.append(os.path.join(directory, python))
    elif os.path.exists(os.path.join(directory, 'requirements.txt')):
        paths.append(os.path.join(directory, 'requirements.txt'))
    names = set()
    for path in paths:
        if os.path.exists(path):
            with open(path, encoding='utf-8') as handle:
                names.update(filter(None, (requirement_name(line) for line in handle)))
    return names


@pytest.fixture(scope='module')
def context(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp('ee'))
    for name in ('execution-environment.yml', 'ee-requirements.txt'):
        shutil.copy(os.path.join(REPO_ROOT, name), workdir)
    run([tool('ansible-galaxy'), 'collection', 'build', '--output-path', workdir, REPO_ROOT], workdir)
    run([tool('ansible-builder'), 'create', '-f', 'execution-environment.yml', '-c', 'context'], workdir)
    return os.path.join(workdir, 'context')


def test_the_context_holds_this_collection_as_a_tarball(context):
    assert glob.glob(os.path.join(context, '_build', 'collections', 'mailsec-mta_sts-*.tar.gz'))
    with open(os.path.join(context, 'Dockerfile'), encoding='utf-8') as handle:
        dockerfile = handle.read()
    assert 'ansible-galaxy collection install --offline' in dockerfile
    assert re.search(r'ansible-core==\d', dockerfile) and re.search(r'ansible-runner==\d', dockerfile)


def test_every_called_collection_and_its_dependencies_is_pinned_to_the_tested_version(context):
    with open(os.path.join(context, '_build', 'requirements.yml'), encoding='utf-8') as handle:
        pinned = dict((item['name'], item['version']) for item in yaml.safe_load(handle)['collections'])
    collections = installed_collections()
    needed = called_collections(collections)
    assert {'community.general', 'community.dns', 'community.crypto', 'amazon.aws', 'azure.azcollection',
            'google.cloud', 'awx.awx'} <= needed
    for name in sorted(needed):
        needed.update((collections[name][0].get('dependencies') or {}).keys())
    assert needed <= set(pinned), 'not in the EE: %s' % sorted(needed - set(pinned))
    for name, version in pinned.items():
        assert version == '==' + collections[name][0]['version'], name


def test_every_python_requirement_is_pinned_and_none_is_missing(context):
    with open(os.path.join(context, '_build', 'requirements.txt'), encoding='utf-8') as handle:
        lines = [line.split('#', 1)[0].strip() for line in handle]
    lines = [line for line in lines if line]
    unpinned = [line for line in lines if not re.match(r'^[A-Za-z0-9_.\-\[\]]+==[0-9][\w.]*$', line)]
    assert not unpinned
    pinned = set(requirement_name(line) for line in lines)
    with open(os.path.join(context, '_build', 'requirements.yml'), encoding='utf-8') as handle:
        names = [item['name'] for item in yaml.safe_load(handle)['collections']]
    collections = installed_collections()
    wanted = python_requirements(REPO_ROOT)
    for name in names:
        wanted |= python_requirements(collections[name][1])
    assert wanted - NOT_NEEDED <= pinned, 'not pinned in ee-requirements.txt: %s' % sorted(wanted - NOT_NEEDED - pinned)
