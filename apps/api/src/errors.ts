import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { AppError, ERROR_STATUS, type ErrorCode, type FieldError } from "@kanal/core/kernel";
import type { AppEnv } from "./env";

const errorBodySchema = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      requestId: z.string(),
      fields: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    }),
  })
  .openapi("Error");

const errorResponse = (description: string) => ({
  content: { "application/json": { schema: errorBodySchema } },
  description,
});

/** Spread into every route's `responses` so the OpenAPI document lists the shared error shape. */
export const errorResponses = {
  400: errorResponse("Invalid request (with the failing fields)"),
  401: errorResponse("Not signed in"),
  403: errorResponse("Forbidden"),
  404: errorResponse("Not found (also for another tenant's objects)"),
  409: errorResponse("Conflict"),
  415: errorResponse("The body is not JSON (Content-Type application/json)"),
  422: errorResponse("Refused by a business rule"),
  429: errorResponse("Rate limited"),
} as const;

export function errorBody(c: Context<AppEnv>, code: ErrorCode, message: string, fields?: FieldError[]) {
  c.set("errorCode", code);
  return errorBodyFor(c.get("requestId") ?? "", code, message, fields);
}

/** The error shape outside a Hono context (the webhook path served straight by Node). */
export function errorBodyFor(requestId: string, code: ErrorCode, message: string, fields?: FieldError[]) {
  return {
    error: {
      code,
      message,
      requestId,
      ...(fields && fields.length > 0 && { fields }),
    },
  };
}

function sendError(c: Context<AppEnv>, error: AppError) {
  if (error.details.retryAfterSeconds) c.header("Retry-After", String(error.details.retryAfterSeconds));
  return c.json(errorBody(c, error.code, error.message, error.details.fields), error.status);
}

interface ZodIssueLike {
  path: PropertyKey[];
  message: string;
  code?: string;
  keys?: string[];
}

export function zodFields(issues: readonly ZodIssueLike[]): FieldError[] {
  return issues.flatMap((issue) => {
    const base = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys" && issue.keys) {
      return issue.keys.map((k) => ({ path: base ? `${base}.${k}` : k, message: "unknown field" }));
    }
    return [{ path: base, message: issue.message }];
  });
}

/** Hono's own refusals (validators, body limit, media type gate) in the error shape. */
const HTTP_EXCEPTION_CODES: Partial<Record<number, [ErrorCode, string]>> = {
  400: ["invalid_request", "Malformed request"],
  401: ["unauthenticated", "Sign in first"],
  403: ["forbidden", "Forbidden"],
  404: ["not_found", "Not found"],
  413: ["payload_too_large", "Request body too large"],
  415: ["unsupported_media_type", "Send the body as JSON (Content-Type: application/json)"],
};

/**
 * A refused request (4xx) is answered in the error shape and logged once, by the request line with its
 * code (app.ts); only a fault (5xx) logs its stack.
 */
export function onError(error: Error, c: Context<AppEnv>) {
  if (error instanceof AppError) return sendError(c, error);
  if (error instanceof HTTPException && error.status < 500) {
    const [code, fallback] = HTTP_EXCEPTION_CODES[error.status] ?? ["invalid_request", "Refused request"];
    const message = error.status === 400 || error.status === 403 ? error.message || fallback : fallback;
    return c.json(errorBody(c, code, message), ERROR_STATUS[code]);
  }
  c.get("services")?.logger.error(
    { err: { name: error.name, message: error.message, stack: error.stack }, requestId: c.get("requestId") },
    "unhandled error",
  );
  return c.json(errorBody(c, "internal", "Internal error"), 500);
}
