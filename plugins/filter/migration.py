# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the deploy role's MX migration: thin wrappers over module_utils/migration.py (unit tested there)."""

from ansible.errors import AnsibleFilterError

from ansible_collections.mailsec.mta_sts.plugins.module_utils import migration


def deploy_migration_mx(settled, planned, live=None):
    """The mx patterns of this run's policy during an MX migration (migration.migration_mx)."""
    try:
        return migration.migration_mx(settled, planned, live)
    except migration.MigrationError as exc:
        raise AnsibleFilterError('deploy_migration_mx: %s; give planned_mx as a list of MX host names' % exc)


def deploy_migration_report(domain, plan, state, now, check_mode=False):
    """What the run says about the MX migration of DOMAIN (migration.migration_report)."""
    try:
        return migration.migration_report(domain, plan, state, now, check_mode=bool(check_mode))
    except migration.MigrationError as exc:
        raise AnsibleFilterError('deploy_migration_report: %s' % exc)


class FilterModule:
    def filters(self):
        return {'deploy_migration_mx': deploy_migration_mx, 'deploy_migration_report': deploy_migration_report}
