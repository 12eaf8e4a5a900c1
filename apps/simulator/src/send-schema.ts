import { z } from "zod";

/** Limits Meta enforces on outgoing messages (send-messages and interactive message docs). */
const mediaObject = z
  .object({
    id: z.string().min(1).optional(),
    link: z.url().optional(),
    caption: z.string().max(1024).optional(),
    filename: z.string().optional(),
  })
  .refine((media) => media.id !== undefined || media.link !== undefined, {
    message: "needs either id or link",
  });

const replyButton = z.object({
  type: z.literal("reply"),
  reply: z.object({ id: z.string().min(1).max(256), title: z.string().min(1).max(20) }),
});

const interactiveObject = z
  .object({
    type: z.enum([
      "button",
      "list",
      "cta_url",
      "product",
      "product_list",
      "flow",
      "location_request_message",
    ]),
    header: z.record(z.string(), z.unknown()).optional(),
    body: z.object({ text: z.string().min(1).max(1024) }).optional(),
    footer: z.object({ text: z.string().max(60) }).optional(),
    action: z.record(z.string(), z.unknown()),
  })
  .superRefine((interactive, context) => {
    if (interactive.type !== "button") return;
    const buttons = z.array(replyButton).min(1).max(3).safeParse(interactive.action.buttons);
    if (!buttons.success) {
      for (const issue of buttons.error.issues) {
        context.addIssue({
          code: "custom",
          path: ["action", "buttons", ...issue.path.map(String)],
          message: issue.message,
        });
      }
    }
    if (!interactive.body) context.addIssue({ code: "custom", path: ["body"], message: "is required" });
  });

const base = {
  messaging_product: z.literal("whatsapp"),
  recipient_type: z.literal("individual").optional(),
  to: z.string().regex(/^\+?[0-9][0-9 ()-]{4,30}$/, "is not a valid phone number"),
  context: z.object({ message_id: z.string().min(1) }).optional(),
  biz_opaque_callback_data: z.string().max(512).optional(),
};

export const sendMessageSchema = z.discriminatedUnion("type", [
  z.object({
    ...base,
    type: z.literal("text"),
    text: z.object({ body: z.string().min(1).max(4096), preview_url: z.boolean().optional() }),
  }),
  z.object({
    ...base,
    type: z.literal("template"),
    template: z.object({
      name: z.string().min(1).max(512),
      language: z.object({ code: z.string().min(2), policy: z.string().optional() }),
      components: z.array(z.record(z.string(), z.unknown())).optional(),
    }),
  }),
  z.object({ ...base, type: z.literal("interactive"), interactive: interactiveObject }),
  z.object({ ...base, type: z.literal("image"), image: mediaObject }),
  z.object({ ...base, type: z.literal("document"), document: mediaObject }),
  z.object({ ...base, type: z.literal("audio"), audio: mediaObject }),
  z.object({ ...base, type: z.literal("video"), video: mediaObject }),
  z.object({ ...base, type: z.literal("sticker"), sticker: mediaObject }),
  z.object({
    ...base,
    type: z.literal("location"),
    location: z.object({
      latitude: z.number(),
      longitude: z.number(),
      name: z.string().optional(),
      address: z.string().optional(),
    }),
  }),
  z.object({
    ...base,
    type: z.literal("reaction"),
    reaction: z.object({ message_id: z.string().min(1), emoji: z.string() }),
  }),
  z.object({
    ...base,
    type: z.literal("contacts"),
    contacts: z.array(z.record(z.string(), z.unknown())).min(1),
  }),
]);

export const markReadSchema = z.object({
  messaging_product: z.literal("whatsapp"),
  status: z.literal("read"),
  message_id: z.string().min(1),
  typing_indicator: z.object({ type: z.literal("text") }).optional(),
});

export const businessProfileUpdateSchema = z.object({
  messaging_product: z.literal("whatsapp"),
  about: z.string().min(1).max(139).optional(),
  address: z.string().max(256).optional(),
  description: z.string().max(512).optional(),
  email: z.string().max(128).optional(),
  websites: z.array(z.string().max(256)).max(2).optional(),
  vertical: z.string().optional(),
  profile_picture_handle: z.string().optional(),
});

/** "Param text.body is required"-style detail, like Meta's error_data.details. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "Invalid parameter";
  const path = issue.path.map(String).join(".");
  return path ? `Param ${path}: ${issue.message}` : issue.message;
}
