import { Amplify } from "aws-amplify";
import {
  confirmSignUp,
  fetchAuthSession,
  getCurrentUser,
  signIn,
  signOut,
  signUp,
} from "aws-amplify/auth";
import type { AppConfig } from "./config";

/** Raised when no valid session is left (never signed in, signed out, or refresh failed). */
export class SessionExpired extends Error {
  constructor() {
    super("Your session has expired: sign in again to continue.");
    this.name = "SessionExpired";
  }
}

export function configureAuth(config: AppConfig): void {
  Amplify.configure({
    Auth: {
      Cognito: {
        userPoolId: config.userPoolId,
        userPoolClientId: config.userPoolClientId,
        // Locally: the emulator's Cognito; on AWS: the regional endpoint (left unset).
        ...(config.cognitoEndpoint ? { userPoolEndpoint: config.cognitoEndpoint } : {}),
        loginWith: { username: true, email: true },
      },
    },
  });
}

export async function currentUser(): Promise<string | null> {
  try {
    const user = await getCurrentUser();
    return user.username;
  } catch {
    return null;
  }
}

/** The ID token for the API's JWT authorizer (Amplify refreshes it when it is near expiry). */
export async function idToken(): Promise<string> {
  let token: string | undefined;
  try {
    token = (await fetchAuthSession()).tokens?.idToken?.toString();
  } catch {
    throw new SessionExpired();
  }
  if (!token) throw new SessionExpired();
  return token;
}

export type SignInResult = "signed-in" | "confirm-sign-up";

export async function signInWithPassword(username: string, password: string): Promise<SignInResult> {
  const result = await signIn({
    username,
    password,
    // The password goes over TLS to Cognito only; the emulator does not implement SRP's proof.
    options: { authFlowType: "USER_PASSWORD_AUTH" },
  });
  if (result.isSignedIn) return "signed-in";
  if (result.nextStep.signInStep === "CONFIRM_SIGN_UP") return "confirm-sign-up";
  throw new Error(`sign-in needs a step this app does not support: ${result.nextStep.signInStep}`);
}

export async function register(username: string, email: string, password: string): Promise<boolean> {
  const result = await signUp({ username, password, options: { userAttributes: { email } } });
  return result.nextStep.signUpStep === "CONFIRM_SIGN_UP";
}

export async function confirmRegistration(username: string, code: string): Promise<void> {
  await confirmSignUp({ username, confirmationCode: code });
}

export async function signOutEverywhere(): Promise<void> {
  await signOut();
}
