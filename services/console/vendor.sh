#!/bin/sh
# Vendors the browser libraries the console and the API docs serve locally (nothing from the
# internet at run time): ECharts, Swagger UI and ReDoc, from their npm packages, at install time.
set -eu
DEST="$(cd "$(dirname "$0")" && pwd)/static/vendor"
mkdir -p "$DEST"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
npm pack --silent echarts@5.6.0 swagger-ui-dist@5.17.14 redoc@2.5.0 >/dev/null
tar xzf echarts-5.6.0.tgz package/dist/echarts.min.js package/LICENSE
cp package/dist/echarts.min.js "$DEST/echarts.min.js"; cp package/LICENSE "$DEST/LICENSE.echarts"; rm -rf package
tar xzf swagger-ui-dist-5.17.14.tgz package/swagger-ui-bundle.js package/swagger-ui.css package/LICENSE
cp package/swagger-ui-bundle.js package/swagger-ui.css "$DEST/"; cp package/LICENSE "$DEST/LICENSE.swagger-ui"; rm -rf package
tar xzf redoc-2.5.0.tgz package/bundles/redoc.standalone.js package/LICENSE
# its sidebar credit fetches a logo from Redocly's CDN: an empty inline image instead
sed 's#https://cdn.redoc.ly/redoc/logo-mini.svg#data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22/%3E#' \
  package/bundles/redoc.standalone.js > "$DEST/redoc.standalone.js"; cp package/LICENSE "$DEST/LICENSE.redoc"; rm -rf package
echo "vendored into $DEST: $(ls "$DEST" | tr '\n' ' ')"
