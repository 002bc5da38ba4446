# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module's main() in-process, as Ansible would with these task arguments (the module tests' one runner)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest
from ansible.module_utils.testing import patch_module_args


def run_module(module, capsys, args, check=False, diff=False, with_rc=False):
    """The module's JSON result; ``check``/``diff`` as --check/--diff; ``with_rc`` adds its exit code as ``rc``."""
    args = dict(args)
    if check:
        args['_ansible_check_mode'] = True
    if diff:
        args['_ansible_diff'] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            module.main()
    result = json.loads(capsys.readouterr().out)
    if with_rc:
        result['rc'] = exited.value.code
    return result
