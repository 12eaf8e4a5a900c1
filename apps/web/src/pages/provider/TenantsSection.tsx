import { useState } from "react";
import { api, type KscOrg, type Tenant } from "../../api";
import { Async, FormError } from "../../components/ui";
import { useAction, useResource } from "../../hooks";
import { useI18n } from "../../i18n";
import { showToast } from "../../notify";
import { href } from "../../router";

export function TenantsSection() {
  const { t } = useI18n();
  const tenants = useResource(() => api.tenants(), []);
  const orgs = useResource(() => api.kscOrgs(), []);

  return (
    <section aria-labelledby="tenants-title">
      <div className="section-header">
        <h2 id="tenants-title">{t("provider.tenants")}</h2>
        <a className="button primary" href={href("/provider/onboarding")} data-testid="tenant-new">
          {t("provider.onboarding")}
        </a>
      </div>
      <Async resource={tenants}>
        {(list) =>
          list.length === 0 ? (
            <p className="muted">{t("common.empty")}</p>
          ) : (
            <table className="table" data-testid="tenants-table">
              <thead>
                <tr>
                  <th scope="col">{t("tenants.slug")}</th>
                  <th scope="col">{t("tenants.name")}</th>
                  <th scope="col">{t("tenants.status")}</th>
                  <th scope="col">{t("tenants.billing")}</th>
                  <th scope="col">{t("tenants.kscOrg")}</th>
                </tr>
              </thead>
              <tbody>
                {list.map((tenant) => (
                  <TenantRow
                    key={tenant.id}
                    tenant={tenant}
                    orgs={orgs.data ?? []}
                    onChanged={() => void tenants.reload()}
                  />
                ))}
              </tbody>
            </table>
          )
        }
      </Async>
    </section>
  );
}

function TenantRow({ tenant, orgs, onChanged }: { tenant: Tenant; orgs: KscOrg[]; onChanged: () => void }) {
  const { t } = useI18n();
  const [kscOrg, setKscOrg] = useState(tenant.kscOrg ?? "");
  const action = useAction();
  const selectId = `ksc-${tenant.slug}`;

  async function save() {
    if (!kscOrg) return;
    const result = await action.run(() => api.contractKsc(tenant.slug, kscOrg));
    if (result.ok) {
      showToast(t("tenants.contracted"), "success");
      onChanged();
    }
  }

  return (
    <tr data-testid="tenant-row" data-tenant={tenant.slug}>
      <td>
        <code>{tenant.slug}</code>
      </td>
      <td>{tenant.name}</td>
      <td>{tenant.status ?? t("common.none")}</td>
      <td>{tenant.billingStatus ?? t("common.none")}</td>
      <td>
        <div className="inline-form">
          <label htmlFor={selectId} className="visually-hidden">
            {t("tenants.kscOrg")}: {tenant.name}
          </label>
          <select
            id={selectId}
            data-testid="tenant-ksc-select"
            value={kscOrg}
            onChange={(event) => setKscOrg(event.target.value)}
          >
            <option value="">{t("tenants.noKsc")}</option>
            {orgs.map((org) => (
              <option key={org.slug} value={org.slug}>
                {org.name}
              </option>
            ))}
          </select>
          <button
            type="button"
            data-testid="tenant-ksc-save"
            disabled={action.busy || !kscOrg || kscOrg === (tenant.kscOrg ?? "")}
            onClick={() => void save()}
          >
            {t("tenants.contract")}
          </button>
        </div>
        <FormError error={action.error} />
      </td>
    </tr>
  );
}
