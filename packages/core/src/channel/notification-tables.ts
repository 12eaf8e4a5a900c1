import type { ColumnType } from "kysely";
import type { Db } from "@kanal/db";
import type { Trx } from "../kernel/executor";

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Json<T> = ColumnType<T, string | T, string | T>;

/** One variable of a template, in the order `params` fill them (header, body, then URL buttons). */
export interface TemplateParameter {
  component: "header" | "body" | "button";
  /** "1", "2" … for POSITIONAL templates, the name for NAMED ones; "media" for a media header */
  name: string;
  /** text, or the media kind a header needs as an https link (image, document, video) */
  type: "text" | "image" | "document" | "video";
  /** the button's index (URL buttons only) */
  buttonIndex?: number;
  example: string | null;
}

export interface TemplateButton {
  index: number;
  type: "QUICK_REPLY" | "URL" | "PHONE_NUMBER" | string;
  text: string;
}

interface TemplatesTable {
  id: string;
  meta_id: string | null;
  name: string;
  language: string;
  category: string;
  status: string;
  reason: string | null;
  parameter_format: ColumnType<string, string | undefined, string>;
  components: Json<unknown[]>;
  body: string | null;
  parameters: Json<TemplateParameter[]>;
  buttons: Json<TemplateButton[]>;
  synced_at: Timestamp;
  updated_at: Timestamp;
}

export interface RefusedItem {
  index: number;
  code: string;
  message: string;
}

interface CampaignsTable {
  id: string;
  idempotency_key: string | null;
  request_hash: string | null;
  items: number;
  accepted: number;
  refused: Json<RefusedItem[]>;
  created_by: string | null;
  created_at: CreatedAt;
}

export interface NotificationReply {
  code: string;
  text: string | null;
  payload: string | null;
  messageId: string;
  at: string;
}

interface NotificationsTable {
  id: string;
  campaign_id: string | null;
  customer_id: string;
  conversation_id: string;
  message_id: string;
  template_name: string;
  template_language: string;
  template_category: string | null;
  params: Json<string[]>;
  idempotency_key: string | null;
  request_hash: string | null;
  status: ColumnType<string, string | undefined, string>;
  status_at: Timestamp | null;
  error: Json<Record<string, unknown>> | null;
  reply: Json<NotificationReply> | null;
  replied_at: Timestamp | null;
  created_by: string | null;
  created_at: CreatedAt;
}

/** The template registry's and the notifications' tables, in each bank's schema. */
// A type alias, not an interface: Kysely's withTables needs an index-signature-compatible type.
type NotificationTables = {
  templates: TemplatesTable;
  campaigns: CampaignsTable;
  notifications: NotificationsTable;
};

/** The shared handle (or a transaction), typed to also know these tables (same pool, no new connection). */
export function notificationsDb(db: Db | Trx) {
  return db.withTables<NotificationTables>();
}
