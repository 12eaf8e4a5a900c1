import { randomBytes } from "node:crypto";

/** Graph API error body, keys in the order Meta sends them (see fixtures/send-error-rate-limit.json). */
export interface MetaErrorBody {
  error: {
    message: string;
    type: string;
    code: number;
    error_data?: { messaging_product: "whatsapp"; details: string };
    error_subcode?: number;
    is_transient?: boolean;
    fbtrace_id: string;
  };
}

export interface MetaError {
  httpStatus: 400 | 401 | 404 | 429 | 500 | 504;
  body: MetaErrorBody;
}

function fbtraceId(): string {
  return randomBytes(17).toString("base64url").slice(0, 23);
}

function metaError(
  httpStatus: MetaError["httpStatus"],
  code: number,
  message: string,
  details?: string,
  extra: { error_subcode?: number; is_transient?: boolean } = {},
): MetaError {
  return {
    httpStatus,
    body: {
      error: {
        message,
        type: "OAuthException",
        code,
        ...(details === undefined ? {} : { error_data: { messaging_product: "whatsapp", details } }),
        ...extra,
        fbtrace_id: fbtraceId(),
      },
    },
  };
}

export function throughputLimitError(): MetaError {
  return metaError(
    429,
    130429,
    "(#130429) Rate limit hit",
    "Message failed to send because there were too many messages sent from this phone number in a short period of time",
    { error_subcode: 2494055 },
  );
}

/**
 * Meta documents no HTTP status per code; the Graph API answers business-rule errors with 400,
 * so 131056 is a 400 here (130429 stays 429 as Kanal's contract asks). Kanal must key on `code`.
 */
export function pairRateLimitError(): MetaError {
  return metaError(
    400,
    131056,
    "(#131056) (Business Account, Consumer Account) pair rate limit hit",
    "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.",
  );
}

export function windowClosedError(): MetaError {
  return metaError(
    400,
    131047,
    "(#131047) Re-engagement message",
    "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
  );
}

export function invalidTokenError(): MetaError {
  return metaError(401, 190, "Invalid OAuth access token - Cannot parse access token");
}

export function expiredTokenError(now: Date): MetaError {
  const expiredAt = new Date(now.getTime() - 60_000);
  return metaError(
    401,
    190,
    `Error validating access token: Session has expired on ${expiredAt.toUTCString()}. The current time is ${now.toUTCString()}.`,
    undefined,
    { error_subcode: 463 },
  );
}

export function invalidParameterError(details: string): MetaError {
  return metaError(400, 100, "(#100) Invalid parameter", details);
}

export function unknownObjectError(objectId: string): MetaError {
  return metaError(
    400,
    100,
    `Unsupported get request. Object with ID '${objectId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
    undefined,
    { error_subcode: 33 },
  );
}

export function serverError(): MetaError {
  return metaError(500, 131000, "(#131000) Something went wrong", "Something went wrong", {
    is_transient: true,
  });
}

export function timeoutError(): MetaError {
  return metaError(504, 2, "(#2) Service temporarily unavailable", undefined, { is_transient: true });
}
