# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline stand-in for the get-pip bootstrap script that ansible-test downloads.

``ansible-test sanity --venv`` (and ``--local`` into an empty venv) bootstraps pip by running
``~/.ansible/test/cache/get_pip_<version>.py`` and downloads it from a host that is not a
package registry when it is missing. ``make sanity`` copies this file there instead.

It installs the pip that ships with Python (ensurepip, no network), then lets that pip
install the exact version ansible-test asked for from the configured package indexes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ensurepip
import os
import subprocess
import sys

# get-pip.py options that `pip install` does not know.
GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel')


def main():
    """Bootstrap pip into the running interpreter, then install the requested packages."""
    saved_environ = dict(os.environ)
    # ensurepip deletes every PIP_* variable and sets PIP_CONFIG_FILE=/dev/null, which would
    # hide this machine's pip configuration (its indexes and certificates): put them back.
    ensurepip.bootstrap(upgrade=True)
    os.environ.clear()
    os.environ.update(saved_environ)

    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    result = subprocess.call([sys.executable, '-m', 'pip', 'install'] + args)
    if result == 0 and '--no-setuptools' in sys.argv[1:]:
        # ensurepip of Python < 3.12 also installs setuptools, which ansible-test did not ask for.
        result = subprocess.call([sys.executable, '-m', 'pip', 'uninstall', '--yes', '--quiet', 'setuptools'])
    return result


if __name__ == '__main__':
    sys.exit(main())
