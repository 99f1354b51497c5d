// Reports the built JavaScript's gzipped size and fails above the budget (300 kB).
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET_BYTES = 300 * 1000;
const dist = process.argv[2] ?? "dist";
const files = readdirSync(join(dist, "assets")).filter((name) => name.endsWith(".js"));
let raw = 0;
let gzipped = 0;
for (const name of files) {
  const bytes = readFileSync(join(dist, "assets", name));
  raw += bytes.length;
  gzipped += gzipSync(bytes, { level: 9 }).length;
}
const report = { files: files.length, js_bytes: raw, js_gzip_bytes: gzipped, budget_gzip_bytes: BUDGET_BYTES };
writeFileSync(join(dist, "bundle-size.json"), JSON.stringify(report, null, 2) + "\n");
console.log(
  `JavaScript: ${files.length} file(s), ${(raw / 1000).toFixed(1)} kB, ` +
    `${(gzipped / 1000).toFixed(1)} kB gzipped (budget ${BUDGET_BYTES / 1000} kB)`,
);
if (gzipped > BUDGET_BYTES) {
  console.error(`the built JavaScript is over budget: ${gzipped} > ${BUDGET_BYTES} bytes gzipped`);
  process.exit(1);
}
