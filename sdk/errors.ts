/**
 * Errors of the plugins SDK. Every failed RPC becomes a {@link PluginsError} (or one of its subclasses
 * for the codes callers branch on) carrying PostgREST's `code`, `message`, `details` and `hint`, the
 * HTTP status and the RPC's name.
 *
 * @example
 * ```ts
 * try {
 *   await client.plugins.install({ tenantId, pluginKey: "my_integration", secretRef, config });
 * } catch (error) {
 *   if (error instanceof PluginsPermissionError) showMessage("Only tenant admins can install plugins");
 *   else if (error instanceof PluginsValidationError) showMessage(error.message); // e.g. "webhook_url must use https, not http"
 *   else throw error;
 * }
 * ```
 */

/** The error object supabase-js returns (PostgREST's error JSON). */
export interface PostgrestErrorLike {
  code?: string;
  message: string;
  details?: string | null;
  hint?: string | null;
}

/** A failed plugins call: PostgREST's (or PostgreSQL's) code and message, plus where it happened. */
export class PluginsError extends Error {
  constructor(
    /** SQLSTATE or PostgREST code, e.g. `42501`, `22023`, `PT404`, `PGRST202`; SDK checks use `sdk_*`. */
    readonly code: string,
    message: string,
    readonly options: { details?: string | null; hint?: string | null; status?: number; rpc?: string } = {},
  ) {
    super(message);
    this.name = "PluginsError";
  }

  get details(): string | null {
    return this.options.details ?? null;
  }

  get hint(): string | null {
    return this.options.hint ?? null;
  }

  /** The HTTP status of the response, when there was one. */
  get status(): number | undefined {
    return this.options.status;
  }

  /** The RPC that failed, e.g. `rpc_install_plugin`. */
  get rpc(): string | undefined {
    return this.options.rpc;
  }

  /** The right subclass for a supabase-js error. */
  static from(error: PostgrestErrorLike, rpc: string, status?: number): PluginsError {
    // supabase-js passes on whatever JSON an error body held (from a proxy: a string, an object
    // without a message) and reports a network failure with an empty code and status 0.
    const body: Partial<PostgrestErrorLike> = typeof error === "object" && error !== null ? error : {};
    const code = (typeof body.code === "string" && body.code) || "unknown";
    const options = { details: body.details ?? null, hint: body.hint ?? null, status, rpc };
    const message = typeof body.message === "string" && body.message !== "" ? body.message : (
      status === undefined
        ? `${rpc} failed without an error message`
        : status === 0
        ? `${rpc} got no answer`
        : typeof error === "string" && error !== ""
        ? `${rpc} answered HTTP ${status}: ${error}`
        : `${rpc} answered HTTP ${status} without an error message`
    );
    const Type = code === "42501"
      ? PluginsPermissionError
      : code.startsWith("22")
      ? PluginsValidationError
      : code === "PT404" || code === "P0002"
      ? PluginsNotFoundError
      : code === "23505" || code === "PT409"
      ? PluginsConflictError
      : PluginsError;
    return new Type(code, message, options);
  }
}

/** `42501`: the caller lacks the role (not a tenant admin, not the service role). */
export class PluginsPermissionError extends PluginsError {
  override name = "PluginsPermissionError";
}

/**
 * `22023` and the rest of SQLSTATE class 22 (data exceptions, e.g. `22P02` for an id that is not a
 * uuid, `22003` for a number out of range): an argument was refused (bad key, non-https URL, unknown
 * column, ...); nothing was written.
 */
export class PluginsValidationError extends PluginsError {
  override name = "PluginsValidationError";
}

/** `PT404` / `P0002`: the installation, subscription, tenant or delivery does not exist. */
export class PluginsNotFoundError extends PluginsError {
  override name = "PluginsNotFoundError";
}

/**
 * `23505` / `PT409`: it exists already (e.g. the plugin is installed in this tenant), or it is not in a
 * state that allows the call (e.g. redelivering a delivery that is still pending).
 */
export class PluginsConflictError extends PluginsError {
  override name = "PluginsConflictError";
}
