/** WhatsApp's customer service window: free-form replies within 24 h of the customer's last message. */
export const WINDOW_MS = 24 * 3_600_000;

export function windowOpen(lastInboundAt: Date | null, now = new Date()): boolean {
  return lastInboundAt !== null && now.getTime() - lastInboundAt.getTime() < WINDOW_MS;
}
