# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The action mailsec.mta_sts.report: merge audit results and JSON reports, then write every format asked for -
all of them or none (each rendered first, then every file replaced by a rename)."""

import datetime
import glob
import json
import os
import re
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.mailsec.mta_sts.plugins.plugin_utils.controls import (CONTROLS_DIR, DEFAULT_CONTROL_ID,
                                                                               load_control)
from ansible_collections.mailsec.mta_sts.plugins.module_utils.lifeline import end_with_parent
from ansible_collections.mailsec.mta_sts.plugins.plugin_utils.report import (EXTENSIONS, FORMATS, ReportError,
                                                                             build_report, collection_version,
                                                                             comparable, diff_is_empty, is_report,
                                                                             merge_domains, render_all, render_bytes)

COLLECTION_ROOT = os.path.dirname(CONTROLS_DIR)

ARGUMENT_SPEC = dict(
    results=dict(type='raw', default=[]),
    src=dict(type='list', elements='path', default=[]),
    dest=dict(type='path', required=True),
    basename=dict(type='str', default='mta-sts-report'),
    formats=dict(type='list', elements='str', choices=list(FORMATS), default=list(FORMATS)),
    previous=dict(type='path'),
    compare_existing=dict(type='bool', default=True),
    options=dict(type='dict'),
    control=dict(type='str'),
    timestamp=dict(type='bool', default=True),
    force=dict(type='bool', default=False),
    mode=dict(type='raw', default='0644'),
)


def plain(value):
    """The value as plain JSON types: no template tags or unsafe wrappers reach the renderers."""
    if isinstance(value, dict):
        return dict((str.__str__(key) if isinstance(key, str) else str(key), plain(item))
                    for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return to_text(value)


def _expand_results(value):
    """Results as given: one audit result, a list of them, or a registered loop (its ``results``)."""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise AnsibleActionFail('results must be an audit result or a list of them, not %s' % type(value).__name__)
    out = []
    for item in value:
        if isinstance(item, dict) and isinstance(item.get('results'), list) and 'domains' not in item:
            out.extend(_expand_results(item['results']))
        elif isinstance(item, dict) and item.get('skipped') and 'domains' not in item:
            continue  # an audit task that was skipped in this slice contributes nothing
        else:
            out.append(item)
    return out


def _read_json(path, what):
    try:
        with open(path, 'rb') as handle:
            return json.loads(handle.read().decode('utf-8'))
    except (OSError, ValueError) as exc:
        raise AnsibleActionFail('Cannot read %s %s: %s' % (what, path, exc))


def _expand_sources(patterns):
    paths = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            found = sorted(glob.glob(pattern))
            if not found:
                raise AnsibleActionFail('src pattern %s matches no file; check the slices wrote their JSON reports '
                                        'there' % pattern)
            paths.extend(found)
        else:
            paths.append(pattern)
    return paths


def _file_mode(value):
    try:
        mode = int(value, 8) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise AnsibleActionFail('mode must be an octal string like "0644", not %r' % (value,))
    if not 0 <= mode <= 0o7777:
        raise AnsibleActionFail('mode %r is out of range' % (value,))
    return mode


def _read_text(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except FileNotFoundError:
        return None


_TIME = re.compile(br'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)Z?')


def same_but_time(report, fmt, before):
    """Whether ``before`` is this format's rendering of ``report`` with only an older run time.

    For formats written without the JSON report beside them: the run time alone never makes a file change.
    """
    if before is None or not report.get('generated'):
        return False
    match = _TIME.search(before)
    if not match:
        return False
    older = dict(report, generated=match.group(1).decode('ascii') + 'Z')
    return render_bytes(older, fmt) == before


def write_all(contents, mode):
    """Replace every file of ``contents`` ({path: bytes}) or none: each is written to a temporary file beside
    it first; only when all are on disk are they renamed into place (a rename cannot half happen)."""
    temporaries = {}
    try:
        for path, data in contents.items():
            handle, temporary = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp',
                                                 dir=os.path.dirname(path))
            temporaries[path] = temporary
            with os.fdopen(handle, 'wb') as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, mode)
        for path, temporary in temporaries.items():
            os.replace(temporary, path)
    finally:
        for temporary in temporaries.values():
            if os.path.exists(temporary):
                os.unlink(temporary)


class ActionModule(ActionBase):
    """Merges audit results and writes the control reports on the controller."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        end_with_parent()  # a long report write in this worker ends with ansible-playbook, also after SIGKILL
        result = super().run(tmp, task_vars)
        del tmp
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        mode = _file_mode(args['mode'])
        dest = os.path.abspath(os.path.expanduser(args['dest']))
        formats = list(dict.fromkeys(args['formats']))
        basename = args['basename']
        if not basename or os.sep in basename or basename in ('.', '..'):
            raise AnsibleActionFail('basename must be a file name without a directory, like mta-sts-report')
        paths = dict((fmt, os.path.join(dest, basename + EXTENSIONS[fmt])) for fmt in formats)
        json_path = os.path.join(dest, basename + EXTENSIONS['json'])

        inputs = [plain(item) for item in _expand_results(args['results'])]
        sources = _expand_sources([os.path.abspath(os.path.expanduser(path)) for path in args['src']])
        inputs.extend(_read_json(path, 'the report') for path in sources)
        if not inputs:
            raise AnsibleActionFail('Nothing to report: give results (registered from mailsec.mta_sts.audit) '
                                    'and/or src (JSON reports to merge)')
        try:
            domains = merge_domains(inputs)
        except ReportError as exc:
            raise AnsibleActionFail('Cannot merge the results: %s' % exc)

        control_id = args['control'] or self._control_id(inputs)
        try:
            control = load_control(control_id)
        except (OSError, ValueError) as exc:
            raise AnsibleActionFail('Cannot read the control definition %s from the collection: %s' % (control_id, exc))

        options = plain(args['options']) if args['options'] is not None else self._options_of(inputs)
        existing = None
        if os.path.isfile(json_path):
            existing = _read_json(json_path, 'the existing report')
            if not is_report(existing):
                raise AnsibleActionFail('%s exists and is not a report of mailsec.mta_sts.report; choose another '
                                        'dest or basename' % json_path)
        previous = None
        previous_path = args['previous']
        if previous_path:
            previous_path = os.path.abspath(os.path.expanduser(previous_path))
            if os.path.exists(previous_path):
                previous = _read_json(previous_path, 'the previous report')
                if not is_report(previous):
                    raise AnsibleActionFail('previous %s is not a JSON report of mailsec.mta_sts.report' % previous_path)
        elif args['compare_existing'] and existing is not None:
            previous, previous_path = existing, json_path

        generated = None
        if args['timestamp']:
            generated = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
        try:
            report = build_report(domains, control, generated=generated, version=collection_version(COLLECTION_ROOT),
                                  options=options, previous=previous)
        except ReportError as exc:
            raise AnsibleActionFail('Cannot compare with the previous report %s: %s' % (previous_path, exc))
        if existing is not None and (not args['force'] or not args['timestamp']) \
                and comparable(existing) == comparable(report):
            # The audit found what the report already says (timings and the order of DNS records aside):
            # keep the report as it is - its time, its diff, its history, its evidence - and rewrite nothing.
            # With force (and a time to record), the run writes its own time and adds itself to the trend.
            report = existing

        changed = False
        files = []
        diffs = []
        if not os.path.isdir(dest):
            changed = True
            if not self._task.check_mode:
                try:
                    os.makedirs(dest, 0o755)
                except OSError as exc:
                    raise AnsibleActionFail('Cannot create the report directory %s: %s' % (dest, exc))
        # Render every format before touching a file: a report that cannot be rendered in one format
        # leaves every file as it was.
        try:
            rendered = render_all(report, formats)
        except ReportError as exc:
            raise AnsibleActionFail('Nothing was written: %s' % exc)
        to_write = {}
        for fmt in formats:
            data = rendered[fmt]
            before = _read_text(paths[fmt])
            if before != data and not args['force'] and same_but_time(report, fmt, before):
                data = before
            file_changed = before != data
            if not file_changed and os.stat(paths[fmt]).st_mode & 0o7777 != mode:
                file_changed = True
                if not self._task.check_mode:
                    os.chmod(paths[fmt], mode)
            elif file_changed:
                to_write[paths[fmt]] = data
            if file_changed and self._task.diff and before != data:
                diffs.append({'before_header': paths[fmt] if before is not None else '%s (absent)' % paths[fmt],
                              'after_header': paths[fmt],
                              'before': before.decode('utf-8', 'replace') if before is not None else '',
                              'after': data.decode('utf-8')})
            changed = changed or file_changed
            files.append({'format': fmt, 'path': paths[fmt], 'changed': file_changed})
        if to_write and not self._task.check_mode:
            try:
                write_all(to_write, mode)
            except OSError as exc:
                raise AnsibleActionFail('Cannot write the reports in %s: %s' % (dest, exc))

        verdict = report['verdict']
        result.update({
            'changed': changed,
            'files': files,
            'merged': len(inputs),
            'sources': sources,
            'status': verdict['status'],
            'counts': verdict['counts'],
            'total': verdict['total'],
            'failing': verdict['failing'],
            'unknown': verdict['unknown'],
            'score': report['score'],
            'generated': report['generated'],
            'control': {'id': control.get('id'), 'title': control.get('title'), 'severity': control.get('severity'),
                        'severity_weight': control.get('severityWeight')},
            'diff_summary': self._diff_summary(report['diff'], previous_path),
        })
        if diffs:
            result['diff'] = diffs
        return result

    @staticmethod
    def _control_id(inputs):
        ids = set()
        for item in inputs:
            control = item.get('control') or {}
            if control.get('id'):
                ids.add(control['id'])
        if len(ids) > 1:
            raise AnsibleActionFail('The results are audits of different controls (%s); report them separately'
                                    % ', '.join(sorted(ids)))
        return ids.pop() if ids else DEFAULT_CONTROL_ID

    @staticmethod
    def _options_of(inputs):
        """The options recorded by earlier reports, when they agree; {} otherwise."""
        recorded = [item.get('options') for item in inputs if is_report(item)]
        if recorded and all(options == recorded[0] for options in recorded):
            return recorded[0] or {}
        return {}

    @staticmethod
    def _diff_summary(diff, previous_path):
        if diff is None:
            return None
        summary = dict((key, len(value)) for key, value in diff.items() if isinstance(value, list))
        summary.update({'previous': previous_path, 'previous_generated': diff.get('previous_generated'),
                        'empty': diff_is_empty(diff),
                        'newly_failing_domains': [entry['domain'] for entry in diff['newly_failing']],
                        'fixed_domains': [entry['domain'] for entry in diff['fixed']]})
        return summary
