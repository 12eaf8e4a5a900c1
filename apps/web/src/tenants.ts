// Name and time zone of a bank, fetched once per session. Agents may not be allowed to read the
// tenant record; then we fall back to the slug and the product default zone.
import { useEffect, useState } from "react";
import { api, type Tenant } from "./api";

export type TenantInfo = { slug: string; name: string; timezone: string };
export const DEFAULT_TIMEZONE = "Europe/Berlin";

const cache = new Map<string, Promise<TenantInfo>>();

function load(slug: string): Promise<TenantInfo> {
  let pending = cache.get(slug);
  if (!pending) {
    pending = api
      .tenant(slug)
      .then((answer) => {
        const tenant: Partial<Tenant> = "tenant" in answer ? answer.tenant : answer;
        return {
          slug,
          name: tenant.name ?? slug,
          timezone: tenant.timezone ?? DEFAULT_TIMEZONE,
        };
      })
      .catch(() => ({ slug, name: slug, timezone: DEFAULT_TIMEZONE }));
    cache.set(slug, pending);
  }
  return pending;
}

export function useTenantInfo(slug: string | undefined): TenantInfo {
  const fallback: TenantInfo = { slug: slug ?? "", name: slug ?? "", timezone: DEFAULT_TIMEZONE };
  const [info, setInfo] = useState<TenantInfo>(fallback);
  useEffect(() => {
    if (!slug) return;
    let active = true;
    void load(slug).then((loaded) => active && setInfo(loaded));
    return () => {
      active = false;
    };
  }, [slug]);
  return info.slug === slug ? info : fallback;
}

/** Several banks at once (the KSC inbox lists chats of many). */
export function useTenantInfos(slugs: readonly string[]): Map<string, TenantInfo> {
  const key = [...new Set(slugs)].sort().join(",");
  const [infos, setInfos] = useState<Map<string, TenantInfo>>(new Map());
  useEffect(() => {
    let active = true;
    const wanted = key ? key.split(",") : [];
    void Promise.all(wanted.map(load)).then((loaded) => {
      if (active) setInfos(new Map(loaded.map((info) => [info.slug, info])));
    });
    return () => {
      active = false;
    };
  }, [key]);
  return infos;
}
