/**
 * The fixed catalogue of customer data a rule may allow a KSC agent to ask for, and
 * the data nobody may ever ask for over WhatsApp. Admins pick from the catalogue; the
 * forbidden list is not configurable.
 */
export const dataClassCatalogue = [
  { id: "name", label: "Name", labelEn: "name" },
  { id: "customer_reference", label: "Kundennummer", labelEn: "customer reference" },
  { id: "postcode", label: "Postleitzahl", labelEn: "postcode" },
  { id: "address", label: "Anschrift", labelEn: "address" },
  { id: "date_of_birth", label: "Geburtsdatum", labelEn: "date of birth" },
  { id: "email", label: "E-Mail-Adresse", labelEn: "e-mail address" },
  { id: "phone", label: "Telefonnummer", labelEn: "phone number" },
  { id: "iban_last4", label: "letzte vier Stellen der IBAN", labelEn: "last four characters of the IBAN" },
  { id: "iban", label: "IBAN / Kontonummer", labelEn: "IBAN / account number" },
  { id: "card_last4", label: "letzte vier Ziffern der Karte", labelEn: "last four digits of the card" },
] as const;

export const forbiddenDataClasses = [
  { id: "pin", label: "PIN", labelEn: "PIN" },
  { id: "tan", label: "TAN", labelEn: "TAN" },
  { id: "password", label: "Passwort", labelEn: "password" },
  {
    id: "online_banking_credentials",
    label: "Online-Banking-Zugangsdaten",
    labelEn: "online banking credentials",
  },
  { id: "full_card_number", label: "vollständige Kartennummer", labelEn: "full card number" },
  { id: "cvc", label: "Kartenprüfnummer (CVC/CVV)", labelEn: "card security code (CVC/CVV)" },
] as const;

export type DataClass = (typeof dataClassCatalogue)[number]["id"];
export type ForbiddenDataClass = (typeof forbiddenDataClasses)[number]["id"];

export const dataClassIds = dataClassCatalogue.map((entry) => entry.id) as [DataClass, ...DataClass[]];
export const forbiddenDataClassIds = forbiddenDataClasses.map((entry) => entry.id) as [
  ForbiddenDataClass,
  ...ForbiddenDataClass[],
];

const labels = new Map<string, { label: string; labelEn: string }>(
  [...dataClassCatalogue, ...forbiddenDataClasses].map((entry) => [entry.id, entry]),
);

export function dataClassLabel(id: DataClass | ForbiddenDataClass): { label: string; labelEn: string } {
  return labels.get(id) ?? { label: id, labelEn: id };
}

export function isForbiddenDataClass(value: string): value is ForbiddenDataClass {
  return (forbiddenDataClassIds as readonly string[]).includes(value);
}

export function isDataClass(value: string): value is DataClass {
  return (dataClassIds as readonly string[]).includes(value);
}
