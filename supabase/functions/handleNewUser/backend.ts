/**
 * The backend call that provisions a user: `POST {API_URL}/users` with `X-API-Key` and
 * `{ id, email, first_name?, last_name? }`, bounded by a timeout.
 *
 * Provisioning is idempotent: the same user may be sent more than once (retries, the Auth hook and
 * the database trigger both firing, pg_net's at-least-once delivery). The request carries
 * `Idempotency-Key: <user id>`, and a 409 from the backend means "already provisioned", which counts
 * as success. Redirects are not followed: a 3xx is a failure naming its status.
 */

export interface BackendConfig {
  /** The backend's base URL (`API_URL`); `/users` is appended. */
  apiUrl: string;
  /** Sent as `X-API-Key` (`BACKEND_SECRET`); never logged. */
  apiKey: string;
  /** Abort the call after this many milliseconds. */
  timeoutMs: number;
  fetch: typeof fetch;
}

/** What the backend receives. */
export interface BackendUser {
  id: string;
  email: string | null;
  first_name?: string;
  last_name?: string;
}

export type ProvisionOutcome =
  /** 2xx, or 409 (already provisioned). */
  | { kind: "provisioned"; httpStatus: number; alreadyProvisioned: boolean }
  /** The backend refused this user (400, 403 or 422): retrying will not help. */
  | { kind: "refused"; httpStatus: number; reason: string }
  /** Timeout, network error or any other status: worth retrying later. */
  | { kind: "failed"; httpStatus?: number; reason: string };

/** Statuses that mean "this user is not acceptable", as opposed to "the backend has a problem". */
const REFUSALS = new Set([400, 403, 422]);

/**
 * The backend user for an auth user id, email and user metadata (names only when present); an
 * empty email is sent as null.
 */
export function backendUser(
  id: string,
  email: string | null | undefined,
  metadata: Record<string, unknown> | null | undefined,
): BackendUser {
  // Auth's hook payload has email "" for a user without one (phone sign-up), the table has null.
  const user: BackendUser = { id, email: email || null };
  const firstName = metadataName(metadata, "first_name", "given_name");
  const lastName = metadataName(metadata, "last_name", "family_name");
  if (firstName) user.first_name = firstName;
  if (lastName) user.last_name = lastName;
  return user;
}

/** Calls the backend once; never throws. */
export async function provisionUser(config: BackendConfig, user: BackendUser): Promise<ProvisionOutcome> {
  const url = `${config.apiUrl.replace(/\/+$/, "")}/users`;
  let response: Response;
  try {
    response = await config.fetch(url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "X-API-Key": config.apiKey,
        "Idempotency-Key": user.id,
      },
      body: JSON.stringify(user),
      signal: AbortSignal.timeout(config.timeoutMs),
      // A followed 301/302 turns the POST into a GET (whose 200 would pass for a provisioning) and
      // takes X-API-Key to wherever Location points: a redirect is a failure to fix in API_URL.
      redirect: "manual",
    });
  } catch (error) {
    const name = (error as Error)?.name;
    if (name === "TimeoutError" || name === "AbortError") {
      return { kind: "failed", reason: `the backend did not answer within ${config.timeoutMs} ms` };
    }
    return { kind: "failed", reason: "the backend could not be reached" };
  }
  // The body is not needed (and may be large); release the connection.
  await response.body?.cancel().catch(() => {});
  const status = response.status;
  if (response.ok || status === 409) {
    return { kind: "provisioned", httpStatus: status, alreadyProvisioned: status === 409 };
  }
  if (REFUSALS.has(status)) {
    return { kind: "refused", httpStatus: status, reason: `the backend refused the user (HTTP ${status})` };
  }
  return { kind: "failed", httpStatus: status, reason: `the backend answered HTTP ${status}` };
}

function metadataName(
  metadata: Record<string, unknown> | null | undefined,
  key: string,
  fallbackKey: string,
): string | undefined {
  // As private.metadata_name in SQL, which names the profile and the Sendry contact: the first of the
  // two that is a string not blank once trimmed of spaces, tabs and line breaks, at most 200
  // characters. Counted in code points like SQL's left(): slicing UTF-16 units could split an emoji
  // and send the backend a lone surrogate.
  for (const value of [metadata?.[key], metadata?.[fallbackKey]]) {
    const name = typeof value === "string" ? value.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, "") : "";
    if (name !== "") return Array.from(name).slice(0, 200).join("");
  }
  return undefined;
}
