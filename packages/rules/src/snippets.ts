/**
 * Default text snippets (Textbausteine) for a new bank, and rendering of the
 * `{{customer.name}}`, `{{agent.name}}`, `{{bank.name}}`, `{{bank.phone}}` variables.
 */
export interface DefaultSnippet {
  /** stable id the default rule book refers to in `allowedSnippetIds` */
  id: string;
  shortcut: string;
  title: string;
  body: string;
  category: string;
}

export const snippetVariableNames = ["customer.name", "agent.name", "bank.name", "bank.phone"] as const;
export type SnippetVariableName = (typeof snippetVariableNames)[number];

export interface SnippetVariables {
  customer?: { name?: string | null };
  agent?: { name?: string | null };
  bank?: { name?: string | null; phone?: string | null };
}

export function defaultSnippets(): DefaultSnippet[] {
  return [
    {
      id: "default-begruessung",
      shortcut: "/hallo",
      title: "Begrüßung",
      body: "Guten Tag {{customer.name}}, vielen Dank für Ihre Nachricht an die {{bank.name}}. Hier schreibt {{agent.name}} – wie kann ich Ihnen helfen?",
      category: "Allgemein",
    },
    {
      id: "default-verabschiedung",
      shortcut: "/tschuess",
      title: "Verabschiedung",
      body: "Vielen Dank für Ihre Nachricht, {{customer.name}}. Wenn Sie noch Fragen haben, schreiben Sie uns gern jederzeit. Ihre {{bank.name}}",
      category: "Allgemein",
    },
    {
      id: "default-online-banking-entsperren",
      shortcut: "/entsperren",
      title: "Online-Banking entsperren – Anleitung",
      body: "Ihr Online-Banking-Zugang lässt sich wieder freischalten: Wir senden Ihnen dafür einen neuen Brief mit Ihren Zugangsinformationen per Post zu. Alternativ hilft Ihnen unser Electronic-Banking-Support telefonisch unter {{bank.phone}}. Aus Sicherheitsgründen fragen wir über WhatsApp niemals nach PIN, TAN oder Passwort.",
      category: "Online-Banking",
    },
    {
      id: "default-tageslimit",
      shortcut: "/limit",
      title: "Tageslimit ändern",
      body: "Ihr Tageslimit für Überweisungen können Sie im Online-Banking unter „Limits“ selbst anpassen. Für Änderungen am Verfügungsrahmen Ihrer Karte rufen wir Sie gern zurück – sagen Sie uns einfach, wann es Ihnen passt.",
      category: "Online-Banking",
    },
    {
      id: "default-kreditanfrage-rueckruf",
      shortcut: "/kredit",
      title: "Kreditanfrage – Rückruf anbieten",
      body: "Vielen Dank für Ihr Interesse an einer Finanzierung, {{customer.name}}. Gern ruft Sie eine Beraterin oder ein Berater der {{bank.name}} zurück. Wann und unter welcher Telefonnummer dürfen wir Sie erreichen?",
      category: "Kredit",
    },
    {
      id: "default-kartensperre",
      shortcut: "/sperre",
      title: "Kartensperre – Sperr-Notruf 116 116",
      body: "Bitte lassen Sie Ihre Karte sofort über den Sperr-Notruf 116 116 sperren – kostenfrei, rund um die Uhr (aus dem Ausland: +49 116 116). Eine Kartensperre können wir über WhatsApp leider nicht annehmen.",
      category: "Karten",
    },
    {
      id: "default-auftraege-telefon",
      shortcut: "/auftrag",
      title: "Aufträge nur telefonisch",
      body: "Aufträge wie Überweisungen oder Wertpapierorders können wir aus Datenschutzgründen nicht über WhatsApp annehmen. Bitte rufen Sie uns dafür unter {{bank.phone}} an oder nutzen Sie Ihr Online-Banking.",
      category: "Aufträge",
    },
    {
      id: "default-termin",
      shortcut: "/termin",
      title: "Termin vereinbaren",
      body: "Gern vereinbaren wir einen Termin für Sie. Nennen Sie uns bitte zwei, drei Wunschtermine und ob Sie lieber in die Filiale kommen, telefonieren oder ein Video-Gespräch führen möchten.",
      category: "Termine",
    },
    {
      id: "default-oeffnungszeiten",
      shortcut: "/zeiten",
      title: "Öffnungszeiten",
      body: "Die Öffnungszeiten aller Filialen der {{bank.name}} finden Sie auf unserer Website in der Filialsuche. Telefonisch erreichen Sie uns unter {{bank.phone}}.",
      category: "Allgemein",
    },
    {
      id: "default-rueckruf",
      shortcut: "/rueckruf",
      title: "Rückruf anbieten",
      body: "Dieses Anliegen klären wir am besten persönlich. Darf Ihre Beraterin oder Ihr Berater Sie zurückrufen? Nennen Sie uns bitte eine Zeit, zu der Sie gut erreichbar sind.",
      category: "Allgemein",
    },
    {
      id: "default-persoenliche-daten",
      shortcut: "/daten",
      title: "Persönliche Daten ändern",
      body: "Änderungen Ihrer persönlichen Daten wie Anschrift oder Name nehmen wir aus Datenschutzgründen nicht über WhatsApp entgegen. Ich gebe Ihr Anliegen an Ihre Beraterin oder Ihren Berater weiter, die oder der sich bei Ihnen meldet.",
      category: "Persönliche Daten",
    },
  ];
}

const VARIABLE = /\{\{\s*([a-zA-Z]+(?:\.[a-zA-Z]+)*)\s*\}\}/g;

function variableValue(name: string, vars: SnippetVariables): string | null | undefined {
  switch (name) {
    case "customer.name":
      return vars.customer?.name;
    case "agent.name":
      return vars.agent?.name;
    case "bank.name":
      return vars.bank?.name;
    case "bank.phone":
      return vars.bank?.phone;
    default:
      return undefined;
  }
}

/** Used when a known variable has no value. */
const FALLBACKS: Record<SnippetVariableName, string> = {
  "customer.name": "",
  "agent.name": "Ihr Service-Team",
  "bank.name": "Sparkasse",
  "bank.phone": "der Telefonnummer Ihrer Sparkasse",
};

/** Variables in a snippet body that `renderSnippet` does not know (for the admin form). */
export function unknownSnippetVariables(body: string): string[] {
  const unknown = new Set<string>();
  for (const match of body.matchAll(VARIABLE)) {
    const name = match[1] ?? "";
    if (!(snippetVariableNames as readonly string[]).includes(name)) unknown.add(name);
  }
  return [...unknown];
}

/**
 * Fills the variables. Choices:
 * - Unknown variables (`{{foo}}`) stay visible, so the agent notices in the preview
 *   instead of sending a silently broken sentence; `unknownSnippetVariables` lets the
 *   admin form refuse them up front.
 * - A missing customer name is dropped together with the space or ", " before it:
 *   "Guten Tag {{customer.name}}, …" becomes "Guten Tag, …", "Danke, {{customer.name}}!"
 *   becomes "Danke!". A missing agent name becomes "Ihr Service-Team", a missing bank
 *   name "Sparkasse", a missing phone number "der Telefonnummer Ihrer Sparkasse".
 */
export function renderSnippet(body: string, vars: SnippetVariables = {}): string {
  const rendered = body.replace(
    /([ \t]*,?[ \t]*)?\{\{\s*([a-zA-Z]+(?:\.[a-zA-Z]+)*)\s*\}\}/g,
    (whole, before: string | undefined, name: string, offset: number, all: string) => {
      if (!(snippetVariableNames as readonly string[]).includes(name)) return whole;
      const known = name as SnippetVariableName;
      const value = variableValue(known, vars)?.trim();
      const prefix = before ?? "";
      if (value !== undefined && value !== "") return prefix + value;
      const fallback = FALLBACKS[known];
      if (fallback !== "") return prefix + fallback;
      const next = all[offset + whole.length] ?? "";
      // Keep a comma that separates what follows ("Guten Tag, vielen Dank"), drop it before punctuation.
      if (prefix.includes(",") && next !== "" && /[\p{L}\p{N}\s]/u.test(next)) return ",";
      return "";
    },
  );
  return rendered;
}
