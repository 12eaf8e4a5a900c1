/** The closed set of error codes of the public API (API.md) and the HTTP status each maps to. */
export const ERROR_STATUS = {
  invalid_request: 400,
  unauthenticated: 401,
  invalid_credentials: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  window_closed: 422,
  opted_out: 422,
  not_opted_in: 422,
  template_not_approved: 422,
  unknown_customer: 422,
  rule_violation: 422,
  ksc_not_contracted: 422,
  unprocessable: 422,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface FieldError {
  path: string;
  message: string;
}

export class AppError extends Error {
  readonly status: (typeof ERROR_STATUS)[ErrorCode];
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { fields?: FieldError[]; retryAfterSeconds?: number; [key: string]: unknown } = {},
  ) {
    super(message);
    this.name = "AppError";
    this.status = ERROR_STATUS[code];
  }
}

export const notFound = (what = "Resource") => new AppError("not_found", `${what} not found`);
export const forbidden = (message = "You are not allowed to do this") => new AppError("forbidden", message);
export const conflict = (message: string, fields?: FieldError[]) =>
  new AppError("conflict", message, fields ? { fields } : {});
export const invalid = (message: string, fields?: FieldError[]) =>
  new AppError("invalid_request", message, fields ? { fields } : {});

/** Postgres unique violation (23505) with the constraint that was hit. */
export function uniqueViolation(error: unknown): string | null {
  const e = error as { code?: string; constraint?: string };
  return e?.code === "23505" ? (e.constraint ?? "") : null;
}
