#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the variable table of a role's README.md from its meta/argument_specs.yml, so the two cannot drift.

    python hacking/role_readme.py roles/deploy            # rewrite the table in roles/deploy/README.md
    python hacking/role_readme.py --check roles/deploy    # exit 1 when the README is not current

The table goes between the BEGIN and END markers below; the rest of the README is left as it is.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import re
import sys

import yaml

BEGIN = '<!-- BEGIN variables: generated from meta/argument_specs.yml by hacking/role_readme.py; do not edit -->'
END = '<!-- END variables -->'
# Ansible's documentation markup, as Markdown.
MARKUP = [
    (re.compile(r'[OV]\(([^)]*)\)'), r'`\1`'),
    (re.compile(r'C\(([^)]*)\)'), r'`\1`'),
    (re.compile(r'M\(([^)]*)\)'), r'`\1`'),
    (re.compile(r'RV\(([^)]*)\)'), lambda match: '`%s`' % match.group(1).split('#')[-1].split(':')[-1]),
    (re.compile(r'B\(([^)]*)\)'), r'**\1**'),
    (re.compile(r'I\(([^)]*)\)'), r'*\1*'),
    (re.compile(r'L\(([^,)]*),\s*([^)]*)\)'), r'[\1](\2)'),
    (re.compile(r'U\(([^)]*)\)'), r'<\1>'),
]


def markdown(text):
    if isinstance(text, list):
        text = ' '.join(text)
    text = ' '.join(str(text).split())
    for pattern, replacement in MARKUP:
        text = pattern.sub(replacement, text)
    return text.replace('|', '\\|')


def _value(spec):
    if 'default' not in spec:
        return '*required*' if spec.get('required') else ''
    default = spec['default']
    if isinstance(default, str):
        return '`"%s"`' % default if default == '' else '`%s`' % default
    return '`%s`' % json.dumps(default)


def _type(spec):
    kind = spec.get('type', 'str')
    if kind == 'list' and spec.get('elements'):
        kind = 'list of %s' % spec['elements']
    if spec.get('choices'):
        kind += ': ' + ', '.join('`%s`' % choice for choice in spec['choices'])
    return kind


def table(options, heading='Variable'):
    lines = ['| %s | Type | Default | Description |' % heading, '|---|---|---|---|']
    for name in sorted(options):
        spec = options[name]
        lines.append('| `%s` | %s | %s | %s |' % (name, _type(spec), _value(spec), markdown(spec.get('description', ''))))
    return lines


def render(role_dir, entry_point='main'):
    with open(os.path.join(role_dir, 'meta', 'argument_specs.yml')) as handle:
        spec = yaml.safe_load(handle)['argument_specs'][entry_point]
    options = spec.get('options') or {}
    lines = [BEGIN, ''] + table(options)
    for name in sorted(options):
        nested = options[name].get('options')
        if nested:
            what = 'each entry of' if options[name].get('type') == 'list' else 'the dict'
            lines += ['', 'Keys of %s `%s`:' % (what, name), ''] + table(nested, 'Key')
    return '\n'.join(lines + ['', END])


def updated(readme, generated):
    if BEGIN in readme and END in readme:
        head, rest = readme.split(BEGIN, 1)
        return head + generated + rest.split(END, 1)[1]
    raise ValueError('README has no %s ... %s markers: add them where the table belongs' % (BEGIN, END))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--check', action='store_true', help='exit 1 when the README is not current')
    parser.add_argument('roles', nargs='+', help='role directories')
    args = parser.parse_args(argv)
    stale = []
    for role in args.roles:
        path = os.path.join(role, 'README.md')
        with open(path) as handle:
            readme = handle.read()
        new = updated(readme, render(role))
        if new == readme:
            continue
        if args.check:
            stale.append(path)
        else:
            with open(path, 'w') as handle:
                handle.write(new)
            print('wrote the variable table of %s' % path)
    if stale:
        print('not current (run make role-docs): %s' % ', '.join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
