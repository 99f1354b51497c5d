// Fails when src/api/schema.ts is not what openapi-typescript makes of ingest_lambda/openapi.json
// (run `npm run gen:api` after `make openapi`), so the form cannot drift from the API.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "sdfleet-api-"));
const fresh = join(dir, "schema.ts");
try {
  execFileSync(
    "npx",
    ["openapi-typescript", "../ingest_lambda/openapi.json", "--default-non-nullable", "false", "-o", fresh],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  if (readFileSync(fresh, "utf8") !== readFileSync("src/api/schema.ts", "utf8")) {
    console.error("src/api/schema.ts is stale: run `npm run gen:api` (or `make frontend-types`)");
    process.exit(1);
  }
  console.log("src/api/schema.ts matches ingest_lambda/openapi.json");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
