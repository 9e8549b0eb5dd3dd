// The meeting app: plain DOM over the SDK, no framework.
import { ApiError, MeetingPlatform, MeshCall } from "/sdk/meeting-platform.js";

const api = new MeetingPlatform({ storage: sessionStorage });
const $ = (selector) => document.querySelector(selector);
const call = { meeting: null, signaling: null, mesh: null, stream: null, people: new Map(), recording: null, captions: true };
window.meetingApp = { api, call }; // for tests and debugging

function status(text) {
  $("#status").textContent = text;
}

function failed(err) {
  const id = err instanceof ApiError && err.requestId ? ` (request ${err.requestId})` : "";
  status(`${err.message}${id}`);
}

function show(section) {
  for (const id of ["auth", "lobby", "room"]) $(`#${id}`).hidden = id !== section;
  $("#logout").hidden = section === "auth";
  $("#whoami").textContent = api.user ? `Signed in as ${api.user.username}` : "";
}

function element(tag, { dataset = {}, ...props } = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  Object.assign(node.dataset, dataset);
  node.append(...children);
  return node;
}

function formData(form) {
  return Object.fromEntries(new FormData(form));
}

// -- account and lobby --------------------------------------------------------------------------

$("#login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const { username, password } = formData(event.target);
  try {
    await api.login(username, password);
    status("");
    await lobby();
  } catch (err) {
    failed(err);
  }
});

$("#register-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = formData(event.target);
  try {
    await api.register(data);
    await api.login(data.username, data.password);
    status("");
    await lobby();
  } catch (err) {
    failed(err);
  }
});

$("#logout").addEventListener("click", async () => {
  await leaveRoom();
  await api.logout();
  show("auth");
});

async function lobby() {
  show("lobby");
  const list = $("#meetings");
  try {
    let meetings;
    try {
      ({ meetings } = await api.meetings.mine({ page_size: 50 }));
    } catch (err) {
      if (err.status !== 404) throw err; // no my-meetings plugin: every meeting the user may see
      ({ meetings } = await api.meetings.list({ page_size: 50 }));
    }
    list.replaceChildren(
      ...meetings.map((m) =>
        element(
          "li",
          {},
          `${m.title} (#${m.meeting_id}, ${m.status}) `,
          element("button", { type: "button", textContent: "Join", onclick: () => joinRoom(m.meeting_id) }),
        ),
      ),
    );
    if (!meetings.length) list.replaceChildren(element("li", { textContent: "No meetings yet." }));
  } catch (err) {
    failed(err);
  }
}

$("#create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const start = new Date(Date.now() + 60_000);
  try {
    const meeting = await api.meetings.create({
      title: form.title.value,
      start_time: start.toISOString(),
      end_time: new Date(start.getTime() + 3_600_000).toISOString(),
      max_participants: 50,
      meeting_type: "video",
      settings: { enable_recording: form.enable_recording.checked },
    });
    form.reset();
    status(`Meeting #${meeting.meeting_id} created.`);
    await lobby();
  } catch (err) {
    failed(err);
  }
});

$("#join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const { meeting_id: id, password } = formData(event.target);
  joinRoom(Number(id), password || undefined);
});

// -- the room -----------------------------------------------------------------------------------

// Camera and microphone if there are both, else what there is; with neither, watch and chat.
async function localMedia() {
  for (const constraints of [{ audio: true, video: true }, { audio: true }, { video: true }]) {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch {
      // try the next, smaller set
    }
  }
  status("No camera or microphone available: you can watch and chat.");
  return new MediaStream();
}

async function joinRoom(meetingId, password) {
  await leaveRoom();
  try {
    const joined = await api.meetings.join(meetingId, password);
    const meeting = await api.meetings.get(meetingId);
    call.meeting = meeting;
    $("#room-title").textContent = meeting.title;
    call.stream = await localMedia();
    show("room");
    $("#tiles").replaceChildren();
    $("#chat").replaceChildren();
    $("#captions").replaceChildren();
    $("#captions").hidden = true;
    tile("local", `${api.user.username} (you)`, call.stream, true);
    call.signaling = api.signaling(meetingId);
    listen(call.signaling);
    const info = await call.signaling.connect();
    call.mesh = new MeshCall(call.signaling, { localStream: call.stream, iceServers: joined.ice_servers });
    call.mesh.addEventListener("stream", ({ detail }) => {
      const person = call.people.get(detail.sessionId);
      tile(detail.sessionId, person ? person.username : `user ${detail.userId}`, detail.stream, false);
      updateTile(detail.sessionId);
    });
    call.mesh.addEventListener("peer-left", ({ detail }) => removeTile(detail.sessionId));
    roomInfo(info);
    const { messages } = await api.meetings.messages(meetingId, { page_size: 50 });
    for (const m of messages) chatLine(m.username, m.content, m.message_id);
    if (call.stream.getTracks().length) status("");
  } catch (err) {
    failed(err);
  }
}

function listen(signaling) {
  signaling.on("room-info", (m) => roomInfo(m.data));
  signaling.on("user-joined", (m) => {
    call.people.set(m.data.session_id, { ...m.data, audio_enabled: true, video_enabled: true });
    renderPeople();
  });
  signaling.on("user-left", (m) => {
    call.people.delete(m.data.session_id);
    removeTile(m.data.session_id);
    renderPeople();
  });
  signaling.on("media-state", (m) => {
    const person = call.people.get(m.data.session_id);
    if (person) Object.assign(person, m.data);
    renderPeople();
    updateTile(m.data.session_id);
  });
  signaling.on("chat", (m) => chatLine(m.data.username, m.data.content, m.data.message_id));
  signaling.on("caption", (m) => caption(m.data));
  signaling.on("error", (m) => status(`${m.data.message} (${m.data.code})`));
  signaling.on("reconnecting", () => status("Connection lost, reconnecting..."));
  signaling.on("reconnected", () => status(""));
  signaling.on("closed", (e) => {
    if (call.signaling === signaling) status(`Disconnected: ${e.reason || e.code}`);
  });
}

function roomInfo(info) {
  call.people = new Map(info.participants.map((p) => [p.session_id, p]));
  const me = info.participants.find((p) => p.session_id === info.session_id);
  const moderator = me && ["host", "moderator"].includes(me.role);
  $("#record").hidden = !(moderator && call.meeting.settings && call.meeting.settings.enable_recording);
  renderPeople();
}

function renderPeople() {
  const items = [...call.people.values()]
    .filter((p) => p.username !== "media-bot")
    .map((p) => {
      const state = [p.audio_enabled === false ? "muted" : "", p.video_enabled === false ? "camera off" : ""].filter(Boolean);
      const text = `${p.username}${p.role && p.role !== "participant" ? ` (${p.role})` : ""}${state.length ? ` - ${state.join(", ")}` : ""}`;
      return element("li", { textContent: text, dataset: { session: p.session_id, user: p.user_id } });
    });
  $("#participants").replaceChildren(...items);
}

function tile(id, name, stream, local) {
  let figure = document.getElementById(`tile-${id}`);
  if (!figure) {
    const video = element("video", { autoplay: true, playsInline: true, muted: local });
    figure = element("figure", { id: `tile-${id}`, className: "tile" }, video, element("figcaption"));
    figure.dataset.session = id;
    $("#tiles").append(figure);
  }
  const video = figure.querySelector("video");
  if (video.srcObject !== stream) video.srcObject = stream;
  video.setAttribute("aria-label", `Video of ${name}`);
  figure.querySelector("figcaption").replaceChildren(element("span", { className: "name", textContent: name }));
}

function updateTile(id) {
  const figure = document.getElementById(`tile-${id}`);
  const person = call.people.get(id);
  if (!figure || !person) return;
  const caption = figure.querySelector("figcaption");
  for (const badge of caption.querySelectorAll(".muted")) badge.remove();
  if (person.audio_enabled === false) caption.append(element("span", { className: "muted", textContent: "muted" }));
  if (person.video_enabled === false) caption.append(element("span", { className: "muted", textContent: "camera off" }));
}

function removeTile(id) {
  document.getElementById(`tile-${id}`)?.remove();
}

function chatLine(name, content, messageId) {
  const list = $("#chat");
  // History and live delivery can overlap right after joining: show each message once.
  if (messageId !== undefined && list.querySelector(`[data-message="${CSS.escape(String(messageId))}"]`)) return;
  list.append(element("li", { dataset: { message: messageId ?? "" } }, element("strong", { textContent: `${name}: ` }), content));
  list.scrollTop = list.scrollHeight;
}

// Live captions: one line per speaker, the partial text replaced until it is final.
function caption({ user_id: userId, text, final }) {
  if (!call.captions) return;
  const box = $("#captions");
  let line = box.querySelector(`[data-user="${CSS.escape(String(userId))}"]`);
  if (!line) {
    const person = [...call.people.values()].find((p) => p.user_id === userId);
    const name = person ? person.username : `user ${userId}`;
    line = element("p", { dataset: { user: userId } }, element("strong", { textContent: `${name}: ` }), element("span"));
    box.append(line);
    while (box.children.length > 3) box.firstElementChild.remove();
  }
  const span = line.querySelector("span");
  span.textContent = text;
  span.className = final ? "final" : "partial";
  box.hidden = false;
}

$("#captions-toggle").addEventListener("click", (event) => {
  call.captions = !call.captions;
  event.target.setAttribute("aria-pressed", String(call.captions));
  $("#captions").hidden = !call.captions || !$("#captions").children.length;
});

function toggle(button, kind, onText, offText) {
  const track = call.stream && call.stream.getTracks().find((t) => t.kind === kind);
  if (!track) return;
  track.enabled = !track.enabled;
  button.setAttribute("aria-pressed", String(!track.enabled));
  button.textContent = track.enabled ? onText : offText;
  call.signaling.mediaState({ [kind === "audio" ? "audio_enabled" : "video_enabled"]: track.enabled });
}

$("#mic").addEventListener("click", (e) => toggle(e.target, "audio", "Mute", "Unmute"));
$("#camera").addEventListener("click", (e) => toggle(e.target, "video", "Camera off", "Camera on"));

$("#record").addEventListener("click", async (event) => {
  const button = event.target;
  button.disabled = true;
  try {
    if (call.recording) {
      await api.recording.stop(call.recording.recording_id);
      call.recording = null;
      status("Recording stopped; it will be in the meeting's recordings shortly.");
    } else {
      call.recording = await api.recording.start(call.meeting.meeting_id);
      status("Recording.");
    }
    button.textContent = call.recording ? "Stop recording" : "Start recording";
    button.setAttribute("aria-pressed", String(Boolean(call.recording)));
  } catch (err) {
    failed(err);
  } finally {
    button.disabled = false;
  }
});

$("#chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("#chat-input");
  if (input.value.trim()) call.signaling.chat(input.value);
  input.value = "";
});

async function leaveRoom() {
  if (!call.signaling) return;
  const meetingId = call.meeting.meeting_id;
  call.mesh?.close();
  await call.signaling.leave();
  for (const track of call.stream?.getTracks() || []) track.stop();
  Object.assign(call, { signaling: null, mesh: null, stream: null, meeting: null, recording: null });
  call.people = new Map();
  try {
    await api.meetings.leave(meetingId);
  } catch {
    // already gone with the socket
  }
}

$("#leave").addEventListener("click", async () => {
  await leaveRoom();
  await lobby();
});

if (api.loggedIn) lobby();
else show("auth");
