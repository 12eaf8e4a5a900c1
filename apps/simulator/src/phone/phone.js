// Customer-phone page of the WhatsApp simulator. Plain browser JavaScript, no build step.
const numberInput = document.getElementById("phone-number-id");
const fromInput = document.getElementById("from");
const nameInput = document.getElementById("name");
const chat = document.getElementById("chat");
const errorBox = document.getElementById("error");
const composer = document.getElementById("composer");
const textInput = document.getElementById("text");
const knownNumbers = document.getElementById("known-numbers");

const STATUS_MARKS = { sent: "✓", delivered: "✓✓", read: "✓✓ gelesen", failed: "✗ fehlgeschlagen" };
let lastRendered = "";

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

async function loadNumbers() {
  const response = await fetch("/_sim/numbers");
  const { numbers } = await response.json();
  knownNumbers.replaceChildren(
    ...numbers.map((number) => {
      const option = document.createElement("option");
      option.value = number.phoneNumberId;
      option.label = `+${number.displayPhoneNumber}`;
      return option;
    }),
  );
  if (!numberInput.value && numbers[0]) numberInput.value = numbers[0].phoneNumberId;
}

/** Human-readable text of an outgoing (business → customer) message body. */
function describeOutgoing(body) {
  switch (body.type ?? "text") {
    case "text":
      return body.text?.body ?? "";
    case "template": {
      const params = (body.template?.components ?? [])
        .flatMap((component) => component.parameters ?? [])
        .map((parameter) => parameter.text ?? "")
        .filter(Boolean);
      return `Vorlage „${body.template?.name}“${params.length ? `: ${params.join(", ")}` : ""}`;
    }
    case "interactive":
      return body.interactive?.body?.text ?? "(interaktive Nachricht)";
    case "image":
      return `[Bild] ${body.image?.caption ?? ""}`;
    case "document":
      return `[Dokument] ${body.document?.filename ?? body.document?.caption ?? ""}`;
    case "location":
      return `[Standort] ${body.location?.name ?? ""}`;
    default:
      return `[${body.type}]`;
  }
}

function describeIncoming(message) {
  switch (message.type) {
    case "text":
      return message.text.body;
    case "interactive":
      return (message.interactive.button_reply ?? message.interactive.list_reply).title;
    case "button":
      return message.button.text;
    case "location":
      return `[Standort] ${message.location.name ?? ""}`;
    case "image":
    case "document":
    case "audio":
    case "video":
      return `[${{ image: "Bild", document: "Dokument", audio: "Sprachnachricht", video: "Video" }[message.type]}] ${message[message.type].caption ?? ""}`;
    default:
      return `[${message.type}]`;
  }
}

function timeOf(iso) {
  return new Date(iso).toLocaleTimeString("de-DE", { hour: "2-digit", minute: "2-digit" });
}

function renderItem(item) {
  const bubble = document.createElement("li");
  bubble.className = `bubble ${item.direction}`;
  const text = document.createElement("span");
  const meta = document.createElement("span");
  meta.className = "meta";
  if (item.direction === "in") {
    text.textContent = describeIncoming(item.message);
    meta.textContent = timeOf(item.receivedAt);
  } else {
    text.textContent = item.rendered?.text ?? describeOutgoing(item.body);
    const last = item.statuses.at(-1);
    meta.textContent = `${timeOf(item.acceptedAt)} ${last ? (STATUS_MARKS[last.status] ?? last.status) : ""}`;
  }
  bubble.append(text);
  const buttons = item.direction === "out" ? (item.body.interactive?.action?.buttons ?? []) : [];
  for (const button of buttons) {
    const element = document.createElement("button");
    element.type = "button";
    element.textContent = button.reply.title;
    element.addEventListener("click", () =>
      sendInbound({
        type: "interactive",
        text: button.reply.title,
        buttonId: button.reply.id,
        contextId: item.wamid,
      }),
    );
    bubble.append(element);
  }
  // A template's quick replies: the customer's tap comes back as a `button` message with its payload.
  for (const button of item.direction === "out" ? (item.rendered?.buttons ?? []) : []) {
    const element = document.createElement("button");
    element.type = "button";
    element.textContent = button.text;
    element.addEventListener("click", () =>
      sendInbound({ type: "button", text: button.text, buttonId: button.payload, contextId: item.wamid }),
    );
    bubble.append(element);
  }
  bubble.append(meta);
  return bubble;
}

async function refresh() {
  const phoneNumberId = numberInput.value.trim();
  const waId = fromInput.value.trim();
  if (!phoneNumberId || !waId) return;
  const query = new URLSearchParams({ phoneNumberId, waId });
  const response = await fetch(`/_sim/conversation?${query}`);
  const { items } = await response.json();
  const fingerprint = JSON.stringify(items.map((item) => [item.wamid, item.statuses?.length]));
  if (fingerprint === lastRendered) return;
  lastRendered = fingerprint;
  chat.replaceChildren(...items.map(renderItem));
  chat.scrollTop = chat.scrollHeight;
}

async function sendInbound(fields) {
  const phoneNumberId = numberInput.value.trim();
  if (!phoneNumberId) {
    showError("Bitte zuerst eine Bank-Nummer angeben.");
    return;
  }
  const response = await fetch("/_sim/inbound", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      phoneNumberId,
      from: fromInput.value.trim(),
      name: nameInput.value.trim(),
      ...fields,
    }),
  });
  const result = await response.json();
  if (!response.ok) showError("Nachricht ungültig.");
  else if (result.webhookStatus !== 200)
    showError(`Kanal hat den Webhook nicht angenommen (${result.webhookStatus ?? "keine Verbindung"}).`);
  else showError("");
  await refresh();
}

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = textInput.value.trim();
  if (!text) return;
  textInput.value = "";
  void sendInbound({ type: "text", text });
});

for (const button of document.querySelectorAll(".extras button")) {
  button.addEventListener("click", () => {
    const type = button.dataset.type;
    const caption = textInput.value.trim();
    textInput.value = "";
    void sendInbound({ type, ...(caption ? { text: caption } : {}) });
  });
}

for (const input of [numberInput, fromInput]) {
  input.addEventListener("change", () => {
    lastRendered = "";
    void refresh();
  });
}

await loadNumbers();
await refresh();
setInterval(() => void refresh().catch(() => showError("Simulator nicht erreichbar.")), 1000);
