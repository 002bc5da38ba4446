# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One way to shorten text that came from outside before it is shown: messages, errors, report cells.

Pure Python, no imports. A hostile server or input list can hand over megabytes; what we echo stays short.
"""

MARKER = '...'


def clip(value, limit=200):
    """``value`` as text (``str()`` of a non-string), cut to ``limit`` characters followed by ``...``."""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + MARKER
