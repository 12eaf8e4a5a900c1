/** What the guard tests look for: the test card number and IBAN in clear, however they were written. */

// Luhn-valid Visa test number and the standard German test IBAN, as customers and agents type them.
export const CARD = "4111 1111 1111 1111";
const CARD_DIGITS = "4111111111111111";
export const MASKED_CARD = "**** **** **** 1111";
export const IBAN = "DE89 3704 0044 0532 0130 00";
export const IBAN_COMPACT = "DE89370400440532013000";

/** `value` (any JSON) as one string with every separator a customer or a device puts between digits gone. */
const flat = (value: unknown) =>
  (typeof value === "string" ? value : JSON.stringify(value ?? null)).replace(
    /[\s.\-/_,+\u00a0\u202f]|\\n|\\r|\\u00a0|\\u202f/g,
    "",
  );

export const hasClearCard = (value: unknown) => flat(value).includes(CARD_DIGITS);
export const hasClearIban = (value: unknown) => flat(value).toUpperCase().includes(IBAN_COMPACT);
