import type { z } from "zod";
import { invalid, type AppError, type FieldError } from "../kernel/errors";

/** Zod issues as the API's `fields` (path joined with dots, message in German from @kanal/rules). */
export function issueFields(issues: readonly z.core.$ZodIssue[], prefix = ""): FieldError[] {
  return issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter((part) => part !== "").join(".");
    return { path: path === "" ? "(body)" : path, message: issue.message };
  });
}

export function invalidFrom(error: z.ZodError, message: string, prefix = ""): AppError {
  return invalid(message, issueFields(error.issues, prefix));
}
