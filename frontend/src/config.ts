/** The run-time configuration: /config.json beside index.html (amplify.yml or `sdfleet up`). */
export interface AppConfig {
  apiUrl: string;
  region: string;
  userPoolId: string;
  userPoolClientId: string;
  /** The emulator's Cognito endpoint (local stack only). */
  cognitoEndpoint?: string;
  /** True on the local stack: the emulator confirms a sign-up with any code. */
  local?: boolean;
}

const REQUIRED: (keyof AppConfig)[] = ["apiUrl", "region", "userPoolId", "userPoolClientId"];

export async function loadConfig(): Promise<AppConfig> {
  const response = await fetch("/config.json", { cache: "no-store" });
  if (!response.ok) {
    throw new Error(`config.json could not be loaded (HTTP ${response.status})`);
  }
  const config = (await response.json()) as Partial<AppConfig>;
  const missing = REQUIRED.filter((key) => typeof config[key] !== "string" || !config[key]);
  if (missing.length) {
    throw new Error(`config.json lacks ${missing.join(", ")}`);
  }
  return { ...(config as AppConfig), apiUrl: (config.apiUrl as string).replace(/\/+$/, "") };
}
