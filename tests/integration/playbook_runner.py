# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a real ansible-playbook from the integration tests, with this collection on the collections path."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PLAYBOOK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks')
PLAYBOOK_TIMEOUT = 600


def tool(name):
    """An Ansible command from the venv that runs the tests, else from PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    return beside if os.path.exists(beside) else shutil.which(name)


def ansible_playbook():
    return tool('ansible-playbook')


def collections_path(workdir):
    """The caller's ANSIBLE_COLLECTIONS_PATH (the Makefile sets it), else a link to this checkout plus the
    collections of the venv's ansible package."""
    if os.environ.get('ANSIBLE_COLLECTIONS_PATH'):
        return os.environ['ANSIBLE_COLLECTIONS_PATH']
    namespace = os.path.join(workdir, 'collections', 'ansible_collections', 'mailsec')
    os.makedirs(namespace, exist_ok=True)
    link = os.path.join(namespace, 'mta_sts')
    if not os.path.exists(link):
        os.symlink(REPO_ROOT, link)
    return os.pathsep.join([os.path.join(workdir, 'collections'), sysconfig.get_paths()['purelib']])


def ansible_env(workdir, **extra):
    """The environment of an Ansible command run by a test: quiet, no colour, this collection found."""
    env = dict(os.environ)
    env.update({
        'ANSIBLE_COLLECTIONS_PATH': collections_path(workdir),
        'ANSIBLE_LOCALHOST_WARNING': 'false',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'false',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_RETRY_FILES_ENABLED': 'false',
        'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
    })
    env.update(extra)
    return env


def run_playbook(playbook, extra_vars, workdir, args=(), check=True):
    """Run ``playbook`` (a name in tests/integration/playbooks or a path) with ``extra_vars``.

    Returns the CompletedProcess; with ``check``, a non-zero exit fails the test with the output.
    """
    path = playbook if os.path.isabs(playbook) else os.path.join(PLAYBOOK_DIR, playbook)
    vars_path = os.path.join(workdir, 'vars-%s.json' % os.path.basename(path))
    with open(vars_path, 'w', encoding='utf-8') as handle:
        json.dump(extra_vars, handle, ensure_ascii=False)
    env = ansible_env(workdir)
    command = [ansible_playbook(), '-i', 'localhost,', path, '-e', '@' + vars_path,
               '-e', 'ansible_python_interpreter=%s' % sys.executable] + list(args)
    proc = subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT,
                          check=False)
    if check and proc.returncode != 0:
        pytest.fail('ansible-playbook %s failed (rc=%d)\n--- stdout ---\n%s\n--- stderr ---\n%s' % (
            os.path.basename(path), proc.returncode, proc.stdout[-6000:], proc.stderr[-4000:]), pytrace=False)
    return proc


def read_json(path):
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)
