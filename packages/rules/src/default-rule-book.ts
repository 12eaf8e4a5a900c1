import { KREDIT_NOT_KARTE } from "./legacy-patterns";
import { BANK_SERVICE_PHONE_PLACEHOLDER, type RuleBook } from "./schema";

const GREETING = "default-begruessung";
const FAREWELL = "default-verabschiedung";
const CALLBACK = "default-rueckruf";
const ORDERS_BY_PHONE = "default-auftraege-telefon";

/**
 * The rule book a new bank starts with (version 1). Priorities decide between topics a
 * message touches at once: card blocking beats everything, orders beat the topics they
 * are usually mentioned with, and "Online-Banking gesperrt, kann nicht überweisen" is
 * an unlock request, so unlocking sits above transfers.
 */
export function defaultRuleBook(): RuleBook {
  return {
    version: 1,
    rules: [
      {
        id: "kartensperre",
        topic: "Kartensperre",
        keywords: [
          "Kartensperr",
          "Karte sperr",
          "Karte verloren",
          "Karte gestohlen",
          "Karte geklaut",
          "Sperr-Notruf",
          "Sperrnotruf",
          "116 116",
          "Portemonnaie gestohlen",
          "Geldbörse gestohlen",
          "Geldbeutel gestohlen",
          "gestohlen",
          "geklaut",
        ],
        patterns: [
          "\\b(?:karte|kreditkarte|girocard|ec-?karte|bankkarte|sparkassencard)\\b.{0,40}\\b(?:sperren|verloren|gestohlen|geklaut|weg|missbraucht|verschwunden)\\b",
          "\\b(?:sperren|verloren|gestohlen|geklaut)\\b.{0,30}\\b(?:karte|kreditkarte|girocard|ec-?karte|bankkarte)\\b",
        ],
        priority: 100,
        handling: "ksc_allowed",
        allowedDataClasses: [],
        allowedSnippetIds: [GREETING, FAREWELL, "default-kartensperre"],
        freeTextAllowed: false,
        action: {
          type: "redirect_to_phone",
          phoneNumber: "116 116",
          reason: "Kartensperren nehmen wir aus Sicherheitsgründen nicht über WhatsApp an.",
        },
        guidance:
          "Kartensperre nie per WhatsApp ausführen oder Kartendaten erfragen. Den Kunden sofort an den Sperr-Notruf 116 116 verweisen (kostenfrei, rund um die Uhr, aus dem Ausland +49 116 116). Textbaustein /sperre verwenden.",
      },
      {
        id: "wertpapierorder",
        topic: "Wertpapierorder",
        keywords: [
          "Wertpapier",
          "Aktie",
          "Depot",
          "Fonds",
          "ETF",
          "Order",
          "Kaufauftrag",
          "Verkaufsauftrag",
          "Sparplan",
          "Börse",
          "Anleihe",
        ],
        patterns: [],
        priority: 90,
        handling: "ksc_allowed",
        allowedDataClasses: [],
        allowedSnippetIds: [GREETING, FAREWELL, ORDERS_BY_PHONE, CALLBACK],
        freeTextAllowed: false,
        action: {
          type: "redirect_to_phone",
          phoneNumber: BANK_SERVICE_PHONE_PLACEHOLDER,
          reason: "Wertpapieraufträge nehmen wir aus rechtlichen Gründen nicht über WhatsApp an.",
        },
        guidance:
          "Keine Wertpapieraufträge annehmen und keine Anlageberatung per WhatsApp. Auf Telefon oder Online-Banking verweisen oder einen Rückruf der Wertpapierberatung anbieten.",
      },
      {
        id: "tageslimit-erhoehen",
        topic: "Tageslimit erhöhen",
        keywords: [
          "Tageslimit",
          "Limit",
          "Verfügungsrahmen",
          "Auszahlungslimit",
          "Überweisungslimit",
          "Höchstbetrag",
          "Kartenlimit",
          "Verfügungslimit",
        ],
        patterns: ["\\b(?:mehr|hoeher\\w*)\\b.{0,30}\\b(?:abheben|ueberweisen)\\b"],
        priority: 85,
        handling: "ksc_allowed",
        allowedDataClasses: ["name", "postcode"],
        allowedSnippetIds: [GREETING, FAREWELL, "default-tageslimit", CALLBACK],
        freeTextAllowed: true,
        action: { type: "answer" },
        guidance:
          "Erklären, wie der Kunde das Überweisungslimit im Online-Banking selbst ändert (Textbaustein /limit). Kartenlimits ändert nur die Sparkasse: Rückruf anbieten. Zur Zuordnung dürfen Name und Postleitzahl erfragt werden.",
      },
      {
        id: "online-banking-entsperren",
        topic: "Online-Banking entsperren",
        keywords: [
          "entsperr",
          "freischalt",
          "einloggen",
          "Login",
          "PIN vergessen",
          "PIN gesperrt",
          "Passwort vergessen",
          "Zugang gesperrt",
          "Online-Banking gesperrt",
          "PIN-Brief",
          "neue PIN",
        ],
        patterns: [
          "\\bonline[\\s-]?banking\\b.{0,50}\\b(?:gesperrt|sperre|entsperr\\w*|geht nicht|funktioniert nicht|anmeld\\w*|zugang)",
          "\\b(?:gesperrt|sperre|anmeld\\w*|zugang)\\b.{0,50}\\bonline[\\s-]?banking\\b",
          "\\b(?:app|s-app|banking-app)\\b.{0,30}\\b(?:gesperrt|anmeld\\w*|login|einlogg\\w*)",
        ],
        priority: 82,
        handling: "ksc_allowed",
        allowedDataClasses: ["name", "postcode", "date_of_birth"],
        allowedSnippetIds: [GREETING, FAREWELL, "default-online-banking-entsperren", CALLBACK],
        freeTextAllowed: true,
        action: { type: "answer" },
        guidance:
          "Häufigstes Anliegen. Der Zugang wird nicht per WhatsApp entsperrt: neuen PIN-Brief anbieten oder an den Electronic-Banking-Support verweisen (Textbaustein /entsperren). Zur Zuordnung dürfen Name, Postleitzahl und Geburtsdatum erfragt werden – niemals PIN, TAN oder Passwort.",
      },
      {
        id: "ueberweisung",
        topic: "Überweisung",
        keywords: [
          "Überweis",
          "Dauerauftrag",
          "Daueraufträge",
          "Lastschrift",
          "Zahlungsauftrag",
          "Echtzeitüberweisung",
          "Geld senden",
          "Geld schicken",
        ],
        patterns: ["\\b\\d+(?:[.,]\\d+)?\\s?(?:euro|eur|€).{0,40}\\ban\\b"],
        priority: 80,
        handling: "ksc_allowed",
        allowedDataClasses: [],
        allowedSnippetIds: [GREETING, FAREWELL, ORDERS_BY_PHONE],
        freeTextAllowed: false,
        action: {
          type: "redirect_to_phone",
          phoneNumber: BANK_SERVICE_PHONE_PLACEHOLDER,
          reason:
            "Überweisungen und andere Aufträge nehmen wir aus Datenschutzgründen nicht über WhatsApp an.",
        },
        guidance:
          "Keine Aufträge per WhatsApp annehmen. Auf Online-Banking oder das Telefon verweisen (Textbaustein /auftrag). Keine Kontodaten erfragen.",
      },
      {
        id: "persoenliche-daten",
        topic: "Adressänderung / persönliche Daten",
        keywords: [
          "Adressänderung",
          "Adresse ändern",
          "neue Adresse",
          "Anschrift ändern",
          "umgezogen",
          "Umzug",
          "Namensänderung",
          "Namen ändern",
          "geheiratet",
          "Heirat",
          "persönliche Daten",
          "Telefonnummer ändern",
          "E-Mail-Adresse ändern",
        ],
        patterns: [
          "\\b(?:adresse|anschrift|namen?|telefonnummer|handynummer)\\b.{0,30}\\b(?:aendern|geaendert|aktualisieren)\\b",
        ],
        priority: 70,
        handling: "bank_only",
        allowedDataClasses: [],
        allowedSnippetIds: [GREETING, "default-persoenliche-daten"],
        freeTextAllowed: false,
        action: { type: "handover_to_advisor" },
        guidance:
          "Änderungen persönlicher Daten sind der Sparkasse vorbehalten. KSC: Textbaustein /daten senden und den Chat an die Beraterin oder den Berater übergeben.",
      },
      {
        id: "kontoinformationen",
        topic: "Konto- und Umsatzauskunft",
        keywords: [
          "Kontostand",
          "Umsatz",
          "Umsätze",
          "Kontoauszug",
          "Buchung",
          "Abbuchung",
          "Saldo",
          "Gutschrift",
          "Dispo",
        ],
        patterns: [],
        priority: 65,
        handling: "bank_only",
        allowedDataClasses: [],
        allowedSnippetIds: [GREETING, CALLBACK],
        freeTextAllowed: false,
        action: { type: "handover_to_advisor" },
        guidance:
          "Kontobezogene Auskünfte gibt es nicht über WhatsApp. KSC: Rückruf anbieten (Textbaustein /rueckruf) und an die Sparkasse übergeben.",
      },
      {
        id: "kreditanfrage",
        topic: "Kreditanfrage",
        keywords: [
          "Darlehen",
          "Finanzierung",
          "finanzieren",
          "Baufinanzierung",
          "Ratenkredit",
          "Privatkredit",
          "Autokredit",
          "Immobilienfinanzierung",
          "Umschuldung",
          "Hypothek",
        ],
        // "Kredit…" but not "Kreditkarte…" (spelled out: the engine has no lookahead)
        patterns: [KREDIT_NOT_KARTE],
        priority: 50,
        handling: "ksc_allowed",
        allowedDataClasses: ["name", "phone"],
        allowedSnippetIds: [GREETING, FAREWELL, "default-kreditanfrage-rueckruf", CALLBACK],
        freeTextAllowed: true,
        action: { type: "offer_callback" },
        guidance:
          "Keine Konditionen zusagen und keine Einkommens- oder Kontodaten erfragen. Rückruf einer Beraterin oder eines Beraters anbieten (Textbaustein /kredit); dafür dürfen Name und Telefonnummer erfragt werden.",
      },
      {
        id: "termin",
        topic: "Termin",
        keywords: [
          "Termin",
          "Beratungstermin",
          "vereinbaren",
          "Beratungsgespräch",
          "Gesprächstermin",
          "Rückruf",
          "zurückrufen",
          "Videoberatung",
        ],
        patterns: [],
        priority: 30,
        handling: "ksc_allowed",
        allowedDataClasses: ["name", "phone", "email"],
        allowedSnippetIds: [GREETING, FAREWELL, "default-termin", CALLBACK],
        freeTextAllowed: true,
        action: { type: "answer" },
        guidance:
          "Wunschtermine und Gesprächsart (Filiale, Telefon, Video) aufnehmen und als Rückruf bzw. Terminwunsch an die Sparkasse weitergeben. Name, Telefonnummer und E-Mail-Adresse dürfen erfragt werden.",
      },
      {
        id: "oeffnungszeiten",
        topic: "Öffnungszeiten und Filialen",
        keywords: ["Öffnungszeit", "geöffnet", "Filiale", "Geldautomat", "Geschäftsstelle", "Erreichbarkeit"],
        patterns: ["\\bwann\\b.{0,30}\\b(?:offen|auf|erreichbar)\\b"],
        priority: 20,
        handling: "ksc_allowed",
        allowedDataClasses: [],
        allowedSnippetIds: [GREETING, FAREWELL, "default-oeffnungszeiten"],
        freeTextAllowed: true,
        action: { type: "answer" },
        guidance: "Allgemeine Auskunft, Textbaustein /zeiten. Keine personenbezogenen Daten nötig.",
      },
      {
        id: "allgemein",
        topic: "Allgemeine Anfrage",
        keywords: [],
        patterns: [],
        priority: 0,
        handling: "ksc_allowed",
        allowedDataClasses: ["name"],
        allowedSnippetIds: [GREETING, FAREWELL, CALLBACK, "default-oeffnungszeiten"],
        freeTextAllowed: true,
        action: { type: "answer" },
        guidance:
          "Kein bekanntes Thema erkannt. Allgemeine Fragen beantworten; bei vertraulichen, personen- oder kontobezogenen Anliegen und bei Aufträgen einen Rückruf anbieten oder an die Sparkasse übergeben. Niemals PIN, TAN, Passwort oder Kartendaten erfragen.",
        isDefault: true,
      },
    ],
  };
}

/**
 * The default rule book names snippets by their default ids ("default-begruessung");
 * when the caller stores the default snippets under other ids, it maps them here.
 * Ids missing from the map are kept.
 */
export function remapSnippetIds(book: RuleBook, idByDefaultId: ReadonlyMap<string, string>): RuleBook {
  return {
    ...book,
    rules: book.rules.map((rule) => ({
      ...rule,
      allowedSnippetIds: rule.allowedSnippetIds.map((id) => idByDefaultId.get(id) ?? id),
    })),
  };
}
