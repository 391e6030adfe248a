"""The files the console's pages load, all served by the app itself from `static/`."""

from __future__ import annotations

from pathlib import Path

#: htmx, as its npm package (htmx.org) ships it in `dist/htmx.min.js`; its license beside it. To upgrade:
#: `npm pack htmx.org@2`, copy `package/dist/htmx.min.js` here as `htmx-<version>.min.js` and `package/LICENSE`
#: as `htmx-LICENSE.txt`, and change the version below.
HTMX_VERSION = "2.0.11"
HTMX_FILE = f"htmx-{HTMX_VERSION}.min.js"
DIRECTORY = Path(__file__).parent / "static"
