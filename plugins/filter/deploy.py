# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the deploy role: thin wrappers over module_utils/txt.py and module_utils/deploy.py.

The deploy_* filters are the role's decisions (what to deploy, which records in which order, what a failure
means); they are internal to the role and documented in module_utils/deploy.py.
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.mailsec.mta_sts.plugins.module_utils import deploy, lifecycle
from ansible_collections.mailsec.mta_sts.plugins.module_utils.record import RecordError
from ansible_collections.mailsec.mta_sts.plugins.module_utils.txt import TxtError, provider_txt_value, render_tlsrpt_record


def txt_value(value, provider):
    """A TXT value (plain text) in the notation the DNS provider's module expects."""
    try:
        return provider_txt_value(to_text(value), to_text(provider))
    except TxtError as exc:
        raise AnsibleFilterError('txt_value: %s' % exc)


def tlsrpt_record(rua):
    """The TLS-RPT record (RFC 8460) for a list of rua URIs."""
    if isinstance(rua, str):
        rua = [rua]
    if not isinstance(rua, (list, tuple)):
        raise AnsibleFilterError('tlsrpt_record expects a list of mailto: or https: URIs')
    try:
        return render_tlsrpt_record([to_text(uri) for uri in rua])
    except RecordError as exc:
        raise AnsibleFilterError('tlsrpt_record: %s' % exc)


def _task(task):
    """ansible_failed_task as a dict (it is one in ansible-core 2.19; an object with attributes elsewhere)."""
    if isinstance(task, dict):
        return task
    return {'action': getattr(task, 'action', None), 'name': getattr(task, 'name', None)}


def _wrap(function, name):
    def wrapped(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (deploy.DeployError, lifecycle.LifecycleError, KeyError, TypeError, ValueError) as exc:
            raise AnsibleFilterError('%s: %s' % (name, exc))
    wrapped.__name__ = name
    wrapped.__doc__ = function.__doc__
    return wrapped


def _failure_reason(failed_task, failed_result, stage, provider_hint=''):
    return deploy.failure_reason(_task(failed_task), failed_result, stage, provider_hint)


def _caches_clear_at(state, policy_id):
    when = lifecycle.caches_clear_at(state, policy_id)
    return lifecycle.format_time(when) if when else None


DECISIONS = {
    'deploy_select': deploy.select_entries,
    'deploy_settle': deploy.settle_entry,
    'deploy_entry_problem': deploy.entry_problem,
    'deploy_switches_to_enforce': deploy.switches_to_enforce,
    'deploy_enforce_blockers': deploy.enforce_blockers,
    'deploy_blocker_lines': deploy.blocker_lines,
    'deploy_policy_host_records': deploy.policy_host_records,
    'deploy_sts_record': deploy.sts_record,
    'deploy_announce_plan': deploy.announce_plan,
    'deploy_txt_changes': deploy.txt_changes,
    'deploy_dns_call': deploy.dns_call,
    'deploy_probe_announced': deploy.probe_says_announced,
    'deploy_relative_name': deploy.relative_name,
    'deploy_dns_servers': deploy.provider_dns_servers,
    'deploy_wait_hint': deploy.wait_hint,
    'deploy_failure_reason': _failure_reason,
    'deploy_failure_outcome': deploy.failure_outcome,
    'deploy_needs_rollback': deploy.needs_rollback,
    'deploy_failure_line': deploy.failure_line,
    'deploy_audit_failures': deploy.audit_failure_lines,
    'deploy_live_announcement': lifecycle.live_announcement,
    'deploy_caches_clear_at': _caches_clear_at,
    'deploy_lifecycle': lifecycle.plan,
    'deploy_opt_out_records': lifecycle.opt_out_records,
}


class FilterModule:
    def filters(self):
        filters = {'txt_value': txt_value, 'tlsrpt_record': tlsrpt_record}
        filters.update((name, _wrap(function, name)) for name, function in DECISIONS.items())
        return filters
