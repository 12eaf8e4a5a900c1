/**
 * Classification + inbound masking latency with a 200-rule book.
 * Run: npx tsx bench/rules-classify.bench.ts
 */
import { classify, compileRuleBook, defaultRuleBook, maskInbound, type RuleBookInput } from "@kanal/rules";

const PRODUCTS = [
  "Girokonto",
  "Sparbuch",
  "Tagesgeld",
  "Festgeld",
  "Bausparvertrag",
  "Kreditkarte",
  "Girocard",
  "Riester-Rente",
  "Lebensversicherung",
  "Hausratversicherung",
  "Kfz-Versicherung",
  "Schließfach",
  "Kontoauszugsdrucker",
  "Pfändungsschutzkonto",
  "Gemeinschaftskonto",
  "Jugendkonto",
  "Geschäftskonto",
  "Mietkaution",
  "Vermögenswirksame Leistungen",
  "Freistellungsauftrag",
  "Erbschaft",
  "Vollmacht",
  "Münzgeld",
  "Fremdwährung",
  "Reisekasse",
];
const ACTIONS = ["eröffnen", "kündigen", "ändern", "beantragen", "Gebühren", "Zinsen", "Unterlagen", "Frage"];

function stem(word: string): string {
  // crude German stemming for generated keywords: drop common endings
  return word.replace(/(?:en|ung|ungen|e|n)$/u, "");
}

function generatedRules(count: number): RuleBookInput["rules"] {
  const rules: RuleBookInput["rules"] = [];
  let n = 0;
  for (const product of PRODUCTS) {
    for (const action of ACTIONS) {
      if (rules.length >= count) return rules;
      n++;
      rules.push({
        id: `gen-${n}`,
        topic: `${product} ${action}`,
        keywords: [
          `${product} ${stem(action)}`,
          `${stem(action)} ${product}`,
          `${product}-${stem(action)}`,
          `${stem(product)}${stem(action).toLowerCase()}`,
        ],
        patterns:
          n % 2 === 0
            ? [
                `\\b${stem(product)
                  .toLowerCase()
                  .replace(/[^a-zäöüß]/gu, ".?")}\\w*\\b.{0,40}\\b${stem(action).toLowerCase()}`,
              ]
            : [],
        priority: 10 + (n % 40),
        handling: n % 5 === 0 ? "bank_only" : "ksc_allowed",
        allowedDataClasses: ["name", "postcode"],
        allowedSnippetIds: [],
        freeTextAllowed: true,
        action: n % 7 === 0 ? { type: "offer_callback" } : { type: "answer" },
        guidance: `Hinweise zu ${product}: ${action}.`,
      });
    }
  }
  return rules;
}

const base = defaultRuleBook();
const book: RuleBookInput = {
  version: 1,
  rules: [...base.rules, ...generatedRules(200 - base.rules.length)],
};
const compiled = compileRuleBook(book);

const MESSAGES = [
  "Hallo, mein Online-Banking ist gesperrt, können Sie es bitte entsperren?",
  "Ich möchte mein Tageslimit erhöhen, ich muss morgen 3000 Euro überweisen.",
  "Guten Tag, ich interessiere mich für einen Kredit für ein neues Auto. Wer kann mich zurückrufen?",
  "Meine Kreditkarte 4111 1111 1111 1111 wurde gestohlen!!! Bitte sofort sperren",
  "Können Sie 250 Euro an meinen Vermieter überweisen? IBAN DE89 3704 0044 0532 0130 00",
  "Wann hat die Filiale in der Hauptstraße samstags geöffnet?",
  "Ich bin umgezogen, meine neue Adresse ist Lindenweg 5, 82256 Fürstenfeldbruck",
  "Mein Passwort: Sommer2024! funktioniert nicht mehr, PIN 1234 auch nicht",
  "Ich möchte mein Sparbuch kündigen, was muss ich mitbringen?",
  "Wie hoch sind die Gebühren für das Gemeinschaftskonto?",
  "Danke!",
  "Ich hätte gern einen Termin mit meinem Berater nächste Woche Donnerstag um 14 Uhr. Meine Nummer ist +49 170 1234567.",
  "Kann ich einen Freistellungsauftrag per WhatsApp ändern?",
  "Ich möchte 20 Aktien von Siemens verkaufen",
  "Hallo zusammen, ich habe da mal eine allgemeine Frage zu meinem Konto und den Zinsen für Tagesgeld bei Ihnen, weil ich gelesen habe, dass andere Banken mehr zahlen. Lohnt sich Festgeld gerade? Und was kostet eigentlich das Schließfach pro Jahr? Viele Grüße aus Fürstenfeldbruck",
  "meine tan ist 123456 und die geht nicht",
];

function runOnce(message: string): number {
  const masked = maskInbound(message);
  return classify(compiled, masked.text).score;
}

const WARMUP = 20_000;
const ITERATIONS = 100_000;
let sink = 0;
for (let i = 0; i < WARMUP; i++) sink += runOnce(MESSAGES[i % MESSAGES.length] as string);

const samples = new Float64Array(ITERATIONS);
for (let i = 0; i < ITERATIONS; i++) {
  const message = MESSAGES[i % MESSAGES.length] as string;
  const started = process.hrtime.bigint();
  sink += runOnce(message);
  samples[i] = Number(process.hrtime.bigint() - started) / 1000;
}
samples.sort();
const at = (quantile: number): string =>
  (samples[Math.min(samples.length - 1, Math.floor(quantile * samples.length))] ?? 0).toFixed(1);

console.log("command: npx tsx bench/rules-classify.bench.ts");
console.log(
  `rules: ${compiled.rules.length}, keywords: ${compiled.keywords.length}, patterns: ${compiled.patterns.length}, messages: ${MESSAGES.length}`,
);
console.log(`iterations: ${ITERATIONS} (after ${WARMUP} warm-up), maskInbound + classify per message`);
console.log(`p50 ${at(0.5)} µs  p99 ${at(0.99)} µs  max ${(samples[samples.length - 1] ?? 0).toFixed(1)} µs`);
console.log(`node ${process.version}, checksum ${sink}`);
