// amplify.yml: writes config.json beside index.html from the branch's environment variables
// (set by terraform/modules/frontend), so one build serves every environment.
import { writeFileSync } from "node:fs";

const names = {
  apiUrl: "SDFLEET_API_URL",
  region: "SDFLEET_REGION",
  userPoolId: "SDFLEET_USER_POOL_ID",
  userPoolClientId: "SDFLEET_USER_POOL_CLIENT",
};
const config = {};
const missing = [];
for (const [key, variable] of Object.entries(names)) {
  const value = process.env[variable];
  if (!value) missing.push(variable);
  else config[key] = value;
}
if (missing.length) {
  console.error(`config.json needs these environment variables: ${missing.join(", ")}`);
  process.exit(1);
}
const target = process.argv[2] ?? "dist/config.json";
writeFileSync(target, JSON.stringify(config, null, 2) + "\n");
console.log(`wrote ${target} for ${config.apiUrl}`);
