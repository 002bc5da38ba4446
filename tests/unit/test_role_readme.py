# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The variable table of roles/deploy/README.md is the one hacking/role_readme.py generates from argument_specs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'hacking'))

import role_readme  # noqa: E402

ROLE = os.path.join(ROOT, 'roles', 'deploy')


def test_deploy_readme_variable_table_is_current():
    with open(os.path.join(ROLE, 'README.md')) as handle:
        readme = handle.read()
    assert role_readme.updated(readme, role_readme.render(ROLE)) == readme, 'run make role-docs'


def test_every_declared_variable_is_in_the_readme():
    with open(os.path.join(ROLE, 'meta', 'argument_specs.yml')) as handle:
        options = yaml.safe_load(handle)['argument_specs']['main']['options']
    with open(os.path.join(ROLE, 'README.md')) as handle:
        readme = handle.read()
    assert [name for name in options if '| `%s` |' % name not in readme] == []


def test_every_default_is_declared():
    with open(os.path.join(ROLE, 'defaults', 'main.yml')) as handle:
        defaults = yaml.safe_load(handle)
    with open(os.path.join(ROLE, 'meta', 'argument_specs.yml')) as handle:
        options = yaml.safe_load(handle)['argument_specs']['main']['options']
    assert sorted(set(defaults) - set(options)) == []


def test_markup_becomes_markdown():
    assert role_readme.markdown('O(a) and C(b|c) M(x.y.z) B(bold)') == '`a` and `b\\|c` `x.y.z` **bold**'


def test_check_mode_reports_a_stale_readme(tmp_path):
    role = tmp_path / 'role'
    (role / 'meta').mkdir(parents=True)
    (role / 'meta' / 'argument_specs.yml').write_text(
        'argument_specs:\n  main:\n    options:\n      x_y:\n        description: A.\n        type: int\n        default: 1\n')
    (role / 'README.md').write_text('# r\n\n%s\nold\n%s\n' % (role_readme.BEGIN, role_readme.END))
    assert role_readme.main(['--check', str(role)]) == 1
    assert role_readme.main([str(role)]) == 0
    assert '| `x_y` | int | `1` | A. |' in (role / 'README.md').read_text()
    assert role_readme.main(['--check', str(role)]) == 0
