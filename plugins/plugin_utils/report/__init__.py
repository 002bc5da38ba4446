# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Control reports from audit results, on the controller: the report model (model.py: merge, diff, score,
history) and one small renderer per format (render_*.py; the HTML page is a Jinja2 template in assets/).

This package's names are what the action plugin mailsec.mta_sts.report and the tests use. Every value that
came from DNS or HTTP is data to the renderers: HTML escapes it (text and attributes), JUnit strips what
XML 1.0 cannot carry, CSV defuses spreadsheet formulas, Markdown escapes its own syntax, and every
human-readable format clips what it echoes.
"""

from ansible_collections.mailsec.mta_sts.plugins.module_utils.findings import main_finding, remediation, title
from ansible_collections.mailsec.mta_sts.plugins.module_utils.verdict import STATUS_ORDER

from . import render_csv as _csv
from . import render_html as _html
from . import render_json as _json
from . import render_junit as _junit
from . import render_markdown as _markdown
from .model import (COLLECTION, EFFECT_RANK, HISTORY_LIMIT, INPUT_LIMIT, SCHEMA, ReportError, build_report,
                    collection_version, comparable, diff_is_empty, diff_reports, domains_of, finding_summary,
                    history_before, is_report, merge_domains, name_of, run_entry, trend, weighted_score)
from .render_csv import CSV_COLUMNS, FORMULA_START, csv_cell, render_csv
from .render_html import SCRIPT, h, render_html, script_hash
from .render_json import render_json
from .render_junit import render_junit
from .render_markdown import md, render_markdown
from .text import TEXT_LIMIT, clean_text, sorted_for_people

__all__ = ['COLLECTION', 'CSV_COLUMNS', 'EFFECT_RANK', 'ENCODINGS', 'EXTENSIONS', 'FORMATS', 'FORMULA_START',
           'HISTORY_LIMIT', 'INPUT_LIMIT', 'RENDERERS', 'SCHEMA', 'SCRIPT', 'STATUS_ORDER', 'TEXT_LIMIT',
           'ReportError', 'build_report', 'clean_text', 'collection_version', 'comparable', 'csv_cell',
           'diff_is_empty', 'diff_reports', 'domains_of', 'finding_summary', 'h', 'history_before', 'is_report',
           'main_finding', 'md', 'merge_domains', 'name_of', 'remediation', 'render', 'render_all', 'render_bytes',
           'render_csv', 'render_html', 'render_json', 'render_junit', 'render_markdown', 'run_entry',
           'script_hash', 'sorted_for_people', 'title', 'trend', 'weighted_score']

_MODULES = {'json': _json, 'junit': _junit, 'html': _html, 'csv': _csv, 'markdown': _markdown}
FORMATS = ('json', 'junit', 'html', 'csv', 'markdown')
EXTENSIONS = dict((fmt, _MODULES[fmt].EXTENSION) for fmt in FORMATS)
ENCODINGS = dict((fmt, getattr(_MODULES[fmt], 'ENCODING', 'utf-8')) for fmt in FORMATS)
RENDERERS = {'json': render_json, 'junit': render_junit, 'html': render_html, 'csv': render_csv,
             'markdown': render_markdown}


def render(report, fmt):
    """The report in one format, as text."""
    return RENDERERS[fmt](report)


def render_bytes(report, fmt):
    """The report in one format, as the bytes of its file (UTF-8; CSV with a byte order mark for Excel)."""
    return render(report, fmt).encode(ENCODINGS[fmt])


def render_all(report, formats):
    """Every format asked for, as bytes, before any file is touched: {format: bytes}.

    Raises ReportError naming the format that could not be rendered, so the caller writes all or none.
    """
    out = {}
    for fmt in formats:
        try:
            out[fmt] = render_bytes(report, fmt)
        except (ValueError, TypeError, KeyError, AttributeError, UnicodeError) as exc:
            raise ReportError('cannot render the %s report: %s: %s' % (fmt, type(exc).__name__, clean_text(str(exc), 300)))
    return out
