# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The JSON report: the report model as it is, the source the next run diffs and merges against."""

import json

EXTENSION = '.json'


def render_json(report):
    """The full report: stable key order, two-space indent, UTF-8, one trailing newline."""
    return json.dumps(report, sort_keys=True, indent=2, ensure_ascii=False, default=str) + '\n'
