/**
 * Stripe's clients send `application/x-www-form-urlencoded` bodies with bracket nesting:
 * `items[0][price]=price_1`, `metadata[tenant_id]=t1`, `expand[]=x`. This turns them back into objects.
 */
export type FormValue = string | FormObject | FormValue[];
export interface FormObject {
  [key: string]: FormValue;
}

export function parseForm(body: string): FormObject {
  const root: FormObject = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const parts = keyParts(rawKey);
    assign(root, parts, value);
  }
  return normaliseArrays(root) as FormObject;
}

function keyParts(key: string): string[] {
  const first = key.indexOf("[");
  if (first < 0) return [key];
  const parts = [key.slice(0, first)];
  for (const match of key.slice(first).matchAll(/\[([^\]]*)\]/g)) parts.push(match[1] ?? "");
  return parts;
}

function assign(target: FormObject, parts: string[], value: string): void {
  let node: FormObject = target;
  for (let i = 0; i < parts.length; i++) {
    let part = parts[i] ?? "";
    const last = i === parts.length - 1;
    // `a[]` appends: give it the next free numeric index.
    if (part === "") part = String(Object.keys(node).length);
    if (last) {
      node[part] = value;
      return;
    }
    const next = node[part];
    if (next === undefined || typeof next === "string" || Array.isArray(next)) {
      const created: FormObject = {};
      node[part] = created;
      node = created;
    } else {
      node = next;
    }
  }
}

/** Objects whose keys are exactly 0..n-1 become arrays, as Stripe reads them. */
function normaliseArrays(value: FormValue): FormValue {
  if (typeof value === "string" || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  const entries = keys.map((k) => [k, normaliseArrays(value[k] ?? "")] as const);
  const numeric = keys.length > 0 && keys.every((k) => /^\d+$/.test(k));
  if (numeric) {
    return entries.sort((a, b) => Number(a[0]) - Number(b[0])).map(([, v]) => v);
  }
  return Object.fromEntries(entries);
}

/** A canonical string of the parameters, to compare an idempotent retry with its first request. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
