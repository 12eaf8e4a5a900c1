import { createHash, randomInt } from "node:crypto";

export type InboundMediaKind = "image" | "document" | "audio" | "video";

export interface StoredMedia {
  id: string;
  phoneNumberId: string;
  mimeType: string;
  filename?: string;
  bytes: Buffer;
  /** Base64 SHA-256, as Meta puts it in webhooks and media metadata. */
  sha256: string;
}

/** A 1×1 transparent PNG. */
const TINY_PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);

function tinyPdf(title: string): Buffer {
  const text = title.replace(/[()\\]/g, "");
  return Buffer.from(
    [
      "%PDF-1.4",
      "1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj",
      "2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj",
      "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]/Contents 4 0 R>>endobj",
      `4 0 obj<</Length ${text.length + 30}>>stream`,
      `BT /F1 12 Tf 10 50 Td (${text}) Tj ET`,
      "endstream endobj",
      "trailer<</Root 1 0 R>>",
      "%%EOF",
      "",
    ].join("\n"),
    "latin1",
  );
}

/** Deterministic stand-in bytes per kind: the same request always yields the same file and hash. */
export function sampleMediaBody(
  kind: InboundMediaKind,
  filename: string,
): { mimeType: string; bytes: Buffer } {
  switch (kind) {
    case "image":
      return { mimeType: "image/png", bytes: TINY_PNG };
    case "document":
      return { mimeType: "application/pdf", bytes: tinyPdf(filename) };
    case "audio":
      // An Ogg page header; enough for content sniffing, not a playable voice note.
      return {
        mimeType: "audio/ogg; codecs=opus",
        bytes: Buffer.from("OggS\u0000\u0002kanal-sim-voice", "latin1"),
      };
    case "video":
      return {
        mimeType: "video/mp4",
        bytes: Buffer.concat([
          Buffer.from([0, 0, 0, 0x18]),
          Buffer.from("ftypmp42\u0000\u0000\u0000\u0000mp42isom", "latin1"),
        ]),
      };
  }
}

export function sha256Base64(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("base64");
}

/** Meta media ids are 15–16 digit numbers. */
export function newMediaId(): string {
  return `${randomInt(1, 10)}${String(randomInt(0, 2 ** 47))
    .padStart(14, "0")
    .slice(0, 14)}`;
}
