import type { MiddlewareHandler } from "hono";
import { AppError } from "@kanal/core/kernel";
import type { AppEnv } from "../env";

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
const FORM_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"];

/**
 * Cookie-authenticated writes must come from our own origin (ADR 0003): a cross-site Origin or
 * Sec-Fetch-Site is refused, and so are the content types an HTML form can send without a CORS preflight.
 * With SameSite=Strict cookies this is defence in depth. API-key requests carry no ambient credential.
 */
export const csrfProtection: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (SAFE.has(c.req.method) || !c.get("viaCookie")) return next();
  const origin = c.req.header("origin");
  const host = c.req.header("host");
  const publicUrl = c.get("services").config.PUBLIC_URL;
  if (origin && origin !== "null") {
    const originHost = new URL(origin).host;
    const allowed = new Set([host, publicUrl ? new URL(publicUrl).host : undefined].filter(Boolean));
    if (!allowed.has(originHost)) throw new AppError("forbidden", "Cross-site request refused");
  } else if (origin === "null") {
    throw new AppError("forbidden", "Cross-site request refused");
  }
  if (c.req.header("sec-fetch-site") === "cross-site")
    throw new AppError("forbidden", "Cross-site request refused");
  const type = c.req.header("content-type")?.toLowerCase() ?? "";
  // 415 like any other body that is not JSON: the request is refused either way.
  if (FORM_TYPES.some((t) => type.startsWith(t)))
    throw new AppError("unsupported_media_type", "Form submissions are not accepted; send JSON");
  return next();
};
