#!/usr/bin/env bash
# Vendor the JavaScript the book's pages load, so that the built HTML renders offline (run by `make book`).
#   usage: book/vendor.sh PYTHON       (PYTHON: the course environment's interpreter, for plotly.min.js)
# Fills book/_vendor/ (git-ignored; html_static_path in _config.yml):
#   plotly.min.js          from the plotly Python package, so it matches the kernel's plotly
#   mathjax/               MathJax 3 (es5 build) from npm, pinned in book/package-lock.json
#   html-manager/          @jupyter-widgets/html-manager's embed.js (+ its fonts) from npm
# Idempotent: npm ci runs only when package-lock.json is newer than the installed copy.
set -euo pipefail
cd "$(dirname "$0")"
python=${1:?usage: book/vendor.sh PYTHON}

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi

rm -rf _vendor.tmp && mkdir -p _vendor.tmp/html-manager
cp "$("$python" -c 'import plotly, pathlib; print(pathlib.Path(plotly.__file__).parent / "package_data" / "plotly.min.js")')" \
   _vendor.tmp/plotly.min.js
cp -r node_modules/mathjax/es5 _vendor.tmp/mathjax
find node_modules/@jupyter-widgets/html-manager/dist -maxdepth 1 -type f \
     ! -name '*.map' ! -name '*amd.js' -exec cp {} _vendor.tmp/html-manager/ \;
rm -rf _vendor && mv _vendor.tmp _vendor
