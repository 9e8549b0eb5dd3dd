// meeting-platform JavaScript SDK: an ES module with no dependencies and no build step.
//
//   import { MeetingPlatform } from "/sdk/meeting-platform.js";
//   const api = new MeetingPlatform({ baseUrl: "https://meet.example.com" });
//   await api.login("ann", "secret");
//   const { meetings } = await api.meetings.list();
//
// Every call answers the envelope's `data`; a failure throws ApiError (status, code, message,
// requestId). Access tokens are refreshed shortly before they expire, and a request answered
// 401 is retried once after a refresh.

/** An error answered by the platform (or a network failure, status 0). */
export class ApiError extends Error {
  constructor({ status = 0, code = 0, message = "request failed", requestId = null, error = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.error = error;
  }

  /** The error of a fetch Response whose body is (normally) the error envelope. */
  static async fromResponse(response) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    return new ApiError({
      status: response.status,
      code: body && typeof body.code === "number" ? body.code : response.status,
      message: (body && body.message) || response.statusText || `HTTP ${response.status}`,
      requestId: (body && body.request_id) || response.headers.get("X-Request-ID"),
      error: body ? body.error ?? null : null,
    });
  }
}

const TOKEN_EXPIRED = 1005;

function query(params) {
  const entries = Object.entries(params || {}).filter(([, v]) => v !== undefined && v !== null);
  return entries.length ? `?${new URLSearchParams(entries)}` : "";
}

/** The REST client: auth, users, meetings, media, recording; and signaling for a meeting. */
export class MeetingPlatform {
  /**
   * @param {object} options
   * @param {string} [options.baseUrl] the server ("" = the page's own origin)
   * @param {Storage} [options.storage] where to keep the session (e.g. sessionStorage); none by default
   * @param {Function} [options.fetch] a fetch implementation (default: the global one)
   * @param {number} [options.refreshMargin] seconds before expiry at which a token is renewed
   */
  constructor({ baseUrl = "", storage = null, fetch = null, refreshMargin = 60 } = {}) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.storage = storage;
    this.fetch = fetch || globalThis.fetch.bind(globalThis);
    this.refreshMargin = refreshMargin;
    this.token = null;
    this.refreshToken = null;
    this.expiresAt = 0; // ms since epoch
    this.lifetime = 0; // seconds, as the server said
    this.user = null;
    this._refreshing = null;
    this._restore();
    const call = (method, path, body, opts) => this.request(method, path, { body, ...opts });
    this.users = {
      profile: () => call("GET", "/api/v1/users/profile"),
      updateProfile: (changes) => call("PUT", "/api/v1/users/profile", changes),
      changePassword: (oldPassword, newPassword) =>
        call("POST", "/api/v1/users/change-password", { old_password: oldPassword, new_password: newPassword }),
    };
    const m = (id, rest = "") => `/api/v1/meetings/${encodeURIComponent(id)}${rest}`;
    this.meetings = {
      list: (params) => call("GET", `/api/v1/meetings${query(params)}`),
      mine: (params) => call("GET", `/api/v1/my/meetings${query(params)}`),
      get: (id) => call("GET", m(id)),
      create: (meeting) => call("POST", "/api/v1/meetings", meeting),
      update: (id, changes) => call("PUT", m(id), changes),
      remove: (id) => call("DELETE", m(id)),
      start: (id) => call("POST", m(id, "/start")),
      end: (id) => call("POST", m(id, "/end")),
      join: (id, password) => call("POST", m(id, "/join"), password ? { password } : {}),
      leave: (id) => call("POST", m(id, "/leave")),
      participants: (id) => call("GET", m(id, "/participants")),
      messages: (id, params) => call("GET", m(id, `/messages${query(params)}`)),
      sendMessage: (id, content) => call("POST", m(id, "/messages"), { content }),
      recordings: (id) => call("GET", m(id, "/recordings")),
    };
    this.media = {
      upload: (file, meetingId) => {
        const form = new FormData();
        form.append("file", file);
        if (meetingId !== undefined && meetingId !== null) form.append("meeting_id", String(meetingId));
        return call("POST", "/api/v1/media/upload", form);
      },
      list: (params) => call("GET", `/api/v1/media${query(params)}`),
      info: (fileId) => call("GET", `/api/v1/media/info/${encodeURIComponent(fileId)}`),
      remove: (fileId) => call("DELETE", `/api/v1/media/${encodeURIComponent(fileId)}`),
      download: (fileId) => this.blob(`/api/v1/media/download/${encodeURIComponent(fileId)}`),
    };
    const r = (id, rest = "") => `/api/v1/recording/${encodeURIComponent(id)}${rest}`;
    this.recording = {
      start: (meetingId, options = {}) => call("POST", "/api/v1/recording/start", { meeting_id: meetingId, ...options }),
      stop: (recordingId) => call("POST", "/api/v1/recording/stop", { recording_id: recordingId }),
      get: (recordingId) => call("GET", r(recordingId)),
      list: (params) => call("GET", `/api/v1/recording/list${query(params)}`),
      remove: (recordingId) => call("DELETE", r(recordingId)),
      download: (recordingId) => this.blob(r(recordingId, "/download")),
    };
  }

  // -- session ----------------------------------------------------------------------------

  get loggedIn() {
    return Boolean(this.token);
  }

  async register({ username, email, password, nickname }) {
    return this.request("POST", "/api/v1/auth/register", {
      body: { username, email, password, ...(nickname ? { nickname } : {}) },
      auth: false,
    });
  }

  async login(username, password) {
    const data = await this.request("POST", "/api/v1/auth/login", { body: { username, password }, auth: false });
    this._setTokens(data);
    this.user = data.user;
    this._save();
    return data.user;
  }

  /** End this login on the server (its refresh tokens and access token), then locally. */
  async logout() {
    try {
      if (this.token) {
        await this.request("POST", "/api/v1/auth/logout", {
          body: this.refreshToken ? { refresh_token: this.refreshToken } : {},
          retry: false,
        });
      }
    } catch {
      // Already expired or revoked: the local session goes either way.
    } finally {
      this._clear();
    }
  }

  /** Renew the access token now (one request at a time, whoever asks). */
  refresh() {
    if (!this._refreshing) {
      this._refreshing = (async () => {
        if (!this.refreshToken) throw new ApiError({ status: 401, code: 401, message: "not logged in" });
        try {
          const data = await this.request("POST", "/api/v1/auth/refresh", {
            body: { refresh_token: this.refreshToken },
            auth: false,
          });
          this._setTokens(data);
          this._save();
          return this.token;
        } catch (err) {
          if (err.status === 401) this._clear(); // the refresh token is dead: log in again
          throw err;
        }
      })().finally(() => {
        this._refreshing = null;
      });
    }
    return this._refreshing;
  }

  /** A valid access token, refreshed first when it expires within the margin. */
  async accessToken() {
    if (this.token && this.refreshToken && this._expiresSoon()) await this.refresh();
    return this.token;
  }

  _expiresSoon() {
    const margin = Math.min(this.refreshMargin, this.lifetime / 5) * 1000;
    return Date.now() >= this.expiresAt - margin;
  }

  _setTokens(data) {
    this.token = data.token;
    if (data.refresh_token) this.refreshToken = data.refresh_token;
    this.lifetime = Number(data.expires_in) || 0;
    this.expiresAt = Date.now() + this.lifetime * 1000;
  }

  _clear() {
    this.token = this.refreshToken = this.user = null;
    this.expiresAt = this.lifetime = 0;
    if (this.storage) this.storage.removeItem("meeting-platform");
  }

  _save() {
    if (!this.storage) return;
    const { token, refreshToken, expiresAt, lifetime, user } = this;
    this.storage.setItem("meeting-platform", JSON.stringify({ token, refreshToken, expiresAt, lifetime, user }));
  }

  _restore() {
    if (!this.storage) return;
    try {
      const saved = JSON.parse(this.storage.getItem("meeting-platform") || "null");
      if (saved) Object.assign(this, saved);
    } catch {
      // A damaged entry is as good as none.
    }
  }

  // -- requests ---------------------------------------------------------------------------

  /** One API call; answers the envelope's data or throws ApiError. */
  async request(method, path, { body, auth = true, retry = true } = {}) {
    const response = await this._send(method, path, body, auth);
    if (response.status === 401 && auth && retry && this.refreshToken) {
      const err = await ApiError.fromResponse(response);
      try {
        await this.refresh();
      } catch {
        throw err; // the original refusal says more than a failed refresh
      }
      return this.request(method, path, { body, auth, retry: false });
    }
    if (!response.ok) throw await ApiError.fromResponse(response);
    if (response.status === 204) return null;
    const envelope = await response.json();
    return envelope.data === undefined ? envelope : envelope.data;
  }

  /** A binary download (recording, media file) as a Blob. */
  async blob(path) {
    let response = await this._send("GET", path, undefined, true);
    if (response.status === 401 && this.refreshToken) {
      await this.refresh();
      response = await this._send("GET", path, undefined, true);
    }
    if (!response.ok) throw await ApiError.fromResponse(response);
    return response.blob();
  }

  async _send(method, path, body, auth) {
    const headers = { Accept: "application/json" };
    if (auth) {
      const token = await this.accessToken();
      if (token) headers.Authorization = `Bearer ${token}`;
    }
    let payload;
    if (body instanceof FormData) {
      payload = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    try {
      return await this.fetch(`${this.baseUrl}${path}`, { method, headers, body: payload });
    } catch (cause) {
      const err = new ApiError({ status: 0, code: 0, message: `network error: ${cause.message || cause}` });
      err.cause = cause;
      throw err;
    }
  }

  /** A signaling client for a meeting (call `connect()` on it). */
  signaling(meetingId, options = {}) {
    const origin = this.baseUrl || globalThis.location.origin;
    const url = options.url || `${origin.replace(/^http/, "ws")}/ws/signaling`;
    return new SignalingClient({ ...options, url, meetingId, token: () => this.accessToken() });
  }
}

// -- signaling --------------------------------------------------------------------------------

// Close codes after which reconnecting is pointless: removed, replaced by a resume elsewhere,
// meeting ended, or refused outright.
const FINAL_CLOSES = new Set([1000, 4401, 4403, 4404, 4409, 4410]);

/**
 * /ws/signaling for one meeting. Emits an event per message type ("room-info", "chat",
 * "user-joined", "offer", ...; `event.detail` is the message) and "message" for every message,
 * plus "open", "reconnecting", "reconnected", "closed". Reconnects after a dropped socket and
 * resumes the same session (same session_id), so the room does not see a leave and rejoin.
 */
export class SignalingClient extends EventTarget {
  constructor({ url, meetingId, token, WebSocket = globalThis.WebSocket, minDelay = 250, maxDelay = 5000, maxAttempts = 20 }) {
    super();
    this.url = url;
    this.meetingId = meetingId;
    this.token = typeof token === "function" ? token : () => token;
    this.WebSocket = WebSocket;
    this.minDelay = minDelay;
    this.maxDelay = maxDelay;
    this.maxAttempts = maxAttempts;
    this.sessionId = null;
    this.roomInfo = null;
    this.socket = null;
    this.closed = false;
    this.attempts = 0;
    this.reconnects = 0;
    this._queue = [];
  }

  /** Open the socket; resolves with the room-info data (session_id, participants, ice_servers). */
  connect() {
    this.closed = false;
    return new Promise((resolve, reject) => {
      const first = (event) => {
        this.removeEventListener("closed", failed);
        resolve(event.detail.data);
      };
      const failed = (event) => {
        this.removeEventListener("room-info", first);
        reject(new ApiError({ status: 0, code: event.detail.code, message: event.detail.reason || "signaling closed" }));
      };
      this.addEventListener("room-info", first, { once: true });
      this.addEventListener("closed", failed, { once: true });
      this._open().catch((err) => {
        this.removeEventListener("room-info", first);
        this.removeEventListener("closed", failed);
        reject(err);
      });
    });
  }

  async _open() {
    const token = await this.token();
    const params = new URLSearchParams({ meeting_id: String(this.meetingId) });
    if (this.sessionId) params.set("session_id", this.sessionId);
    // The token travels as a subprotocol, not in the URL (URLs end up in logs).
    const socket = new this.WebSocket(`${this.url}?${params}`, ["bearer", token]);
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.attempts = 0;
      this._emit("open", {});
    };
    socket.onmessage = (event) => this._receive(event.data);
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.closed || FINAL_CLOSES.has(event.code) || (!opened && !this.sessionId)) {
        // Never connected at all (refused: no such meeting, no right): nothing to resume.
        this.closed = true;
        this._emit("closed", { code: event.code, reason: event.reason });
        return;
      }
      this._reconnect();
    };
  }

  _reconnect() {
    if (this.closed) return;
    if (this.attempts >= this.maxAttempts) {
      this.closed = true;
      this._emit("closed", { code: 1006, reason: "could not reconnect" });
      return;
    }
    this.attempts += 1;
    const delay = Math.min(this.maxDelay, this.minDelay * 2 ** (this.attempts - 1));
    this._emit("reconnecting", { attempt: this.attempts, delay });
    setTimeout(() => {
      if (!this.closed) this._open().catch(() => this._reconnect());
    }, delay);
  }

  _receive(raw) {
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    if (message.type === "ping") {
      this._write({ type: "pong" });
      return;
    }
    if (message.type === "room-info") {
      const resumed = Boolean(message.data.resumed);
      this.sessionId = message.data.session_id;
      this.roomInfo = message.data;
      for (const queued of this._queue.splice(0)) this._write(queued);
      if (resumed) this.reconnects += 1;
      if (resumed) this._emit("reconnected", message);
    }
    this._emit(message.type, message);
    this._emit("message", message);
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _write(message) {
    if (this.socket && this.socket.readyState === 1) {
      this.socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  /** Listen to a message type; answers a function that stops listening. */
  on(type, handler) {
    const listener = (event) => handler(event.detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  /** Send a message; while reconnecting it waits in a queue (chat, media-state; not relays). */
  send(type, data = {}, to = undefined) {
    const message = { type, data, ...(to !== undefined ? { to } : {}) };
    if (!this._write(message) && !["offer", "answer", "ice-candidate"].includes(type)) this._queue.push(message);
  }

  chat(content) {
    this.send("chat", { content });
  }

  mediaState(state) {
    this.send("media-state", state);
  }

  /** Leave the room for good (the others see user-left at once). */
  leave() {
    this.closed = true;
    if (!this._write({ type: "leave" }) && this.socket) this.socket.close(1000);
    return new Promise((resolve) => {
      if (!this.socket) return resolve();
      const socket = this.socket;
      socket.addEventListener("close", () => resolve(), { once: true });
      setTimeout(() => {
        socket.close(1000);
        resolve();
      }, 2000);
    });
  }

  /** Close without leaving (the session is held for the reconnect grace). */
  close() {
    this.closed = true;
    if (this.socket) this.socket.close(4000, "client closed");
  }
}

// -- mesh WebRTC --------------------------------------------------------------------------------

/**
 * A mesh call: one RTCPeerConnection per remote session, negotiated with the "perfect
 * negotiation" pattern (either side may offer; on a collision the polite side, the one with the
 * smaller session id, rolls back). Events: "stream" (detail {sessionId, userId, stream}),
 * "peer-left" ({sessionId}), "state" ({sessionId, state}).
 *
 * Who calls: whoever joins calls everyone already in the room (room-info); those already there
 * wait for that offer (user-joined only introduces the newcomer). Both offering on every join
 * made every join a collision, and in Chromium the polite side's rollback now and then left
 * its ICE gathering stuck with no candidate, so that pair never connected.
 *
 * Receive-only peers (the server's recorder, username "media-bot") always offer themselves and
 * never answer offers, so the call never offers to them and is always polite with them.
 */
export class MeshCall extends EventTarget {
  constructor(
    signaling,
    { localStream = null, iceServers = null, receiveOnly = (p) => p.username === "media-bot", connectTimeout = 8000 } = {},
  ) {
    super();
    this.signaling = signaling;
    this.localStream = localStream;
    this.iceServers = iceServers;
    this.receiveOnly = receiveOnly;
    this.connectTimeout = connectTimeout; // ms before a connection that is not up is nudged
    this.peers = new Map();
    this.users = new Map(); // session id -> {user_id, username}
    this._session = null; // our session id when the peers were made
    this._off = [
      signaling.on("room-info", (m) => this._roomInfo(m.data)),
      signaling.on("user-joined", (m) => this._joined(m.data)),
      signaling.on("user-left", (m) => this.drop(m.data.session_id)),
      signaling.on("offer", (m) => this._description(m)),
      signaling.on("answer", (m) => this._description(m)),
      signaling.on("ice-candidate", (m) => this._candidate(m)),
    ];
    if (signaling.roomInfo) this._roomInfo(signaling.roomInfo);
  }

  get mySession() {
    return this.signaling.sessionId;
  }

  _roomInfo(info) {
    if (this.iceServers === null) this.iceServers = info.ice_servers || [];
    if (this._session && this._session !== info.session_id) {
      // Back after the reconnect grace: the others see a new session, so start afresh.
      for (const sessionId of [...this.peers.keys()]) this.drop(sessionId);
    }
    this._session = info.session_id;
    const present = new Set();
    for (const p of info.participants || []) {
      present.add(p.session_id);
      if (p.session_id !== this.mySession) this.call(p);
    }
    for (const sessionId of [...this.peers.keys()]) if (!present.has(sessionId)) this.drop(sessionId);
  }

  /** A newcomer (user-joined): known from now on; its own offer starts the connection.
   * False for ourselves (or no session). */
  _joined(participant) {
    if (!participant.session_id || participant.session_id === this.mySession) return false;
    this.users.set(participant.session_id, participant);
    return true;
  }

  /** Connect to a participant ({session_id, user_id, username}) now (room-info does, for
   * everyone already in the room). Receive-only participants call us instead. */
  call(participant) {
    if (this._joined(participant) && !this.receiveOnly(participant)) this._peer(participant.session_id);
    return this.peers.get(participant.session_id) || null;
  }

  _peer(sessionId) {
    let peer = this.peers.get(sessionId);
    if (peer) return peer;
    const pc = new RTCPeerConnection({ iceServers: this.iceServers || [] });
    const info = this.users.get(sessionId) || {};
    peer = {
      sessionId,
      userId: info.user_id ?? null,
      pc,
      polite: this.receiveOnly(info) || String(this.mySession) < String(sessionId),
      makingOffer: false,
      ignoreOffer: false,
      stream: new MediaStream(),
    };
    this.peers.set(sessionId, peer);
    pc.ontrack = ({ track, streams }) => {
      const stream = streams[0] || peer.stream;
      if (!streams[0]) peer.stream.addTrack(track);
      peer.stream = stream;
      this._emit("stream", { sessionId, userId: peer.userId, stream });
    };
    pc.onicecandidate = ({ candidate }) => {
      if (candidate && candidate.candidate) this.signaling.send("ice-candidate", candidate.toJSON(), sessionId);
    };
    pc.onnegotiationneeded = async () => {
      try {
        peer.makingOffer = true;
        await pc.setLocalDescription();
        this.signaling.send("offer", { type: pc.localDescription.type, sdp: pc.localDescription.sdp }, sessionId);
      } catch (err) {
        console.warn("meeting-platform: offer failed", err);
      } finally {
        peer.makingOffer = false;
      }
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed") pc.restartIce(); // renegotiates with new ICE credentials
      this._emit("state", { sessionId, state: pc.connectionState });
    };
    if (this.localStream) for (const track of this.localStream.getTracks()) pc.addTrack(track, this.localStream);
    this._watch(peer);
    return peer;
  }

  /** Nudge a connection that is not up after connectTimeout: an offer that got no answer (lost
   * around a reconnect) is sent again; a stable but unconnected pair restarts ICE (impolite side). */
  _watch(peer) {
    clearTimeout(peer.watchdog);
    peer.watchdog = setTimeout(() => {
      const pc = peer.pc;
      if (this.peers.get(peer.sessionId) !== peer || pc.connectionState === "connected") return;
      if (pc.signalingState === "have-local-offer" && pc.localDescription) {
        this.signaling.send("offer", { type: "offer", sdp: pc.localDescription.sdp }, peer.sessionId);
      } else if (pc.signalingState === "stable" && !peer.polite) {
        pc.restartIce();
      }
      this._watch(peer);
    }, this.connectTimeout);
  }

  async _description(message) {
    const sessionId = message.from_session;
    const description = message.data;
    if (!sessionId || !description || !description.sdp) return;
    if (message.type === "answer" && !this.peers.has(sessionId)) return;
    const peer = this._peer(sessionId);
    const pc = peer.pc;
    try {
      const collision = description.type === "offer" && (peer.makingOffer || pc.signalingState !== "stable");
      peer.ignoreOffer = !peer.polite && collision;
      if (peer.ignoreOffer) return;
      await pc.setRemoteDescription(description);
      if (description.type === "offer") {
        await pc.setLocalDescription();
        this.signaling.send("answer", { type: pc.localDescription.type, sdp: pc.localDescription.sdp }, sessionId);
      }
    } catch (err) {
      console.warn("meeting-platform: negotiation failed", err);
    }
  }

  async _candidate(message) {
    const peer = this.peers.get(message.from_session);
    if (!peer || !message.data || !message.data.candidate) return;
    try {
      await peer.pc.addIceCandidate(message.data);
    } catch (err) {
      if (!peer.ignoreOffer) console.warn("meeting-platform: ICE candidate refused", err);
    }
  }

  /** Replace the local stream's track of a kind (e.g. a new camera) on every connection. */
  async replaceTrack(kind, track) {
    for (const peer of this.peers.values()) {
      const sender = peer.pc.getSenders().find((s) => s.track && s.track.kind === kind);
      if (sender) await sender.replaceTrack(track);
    }
  }

  /** Close the connection to one session. */
  drop(sessionId) {
    const peer = this.peers.get(sessionId);
    this.users.delete(sessionId);
    if (!peer) return;
    this.peers.delete(sessionId);
    clearTimeout(peer.watchdog);
    peer.pc.close();
    this._emit("peer-left", { sessionId, userId: peer.userId });
  }

  /** Close every connection and stop listening to signaling. */
  close() {
    for (const off of this._off) off();
    for (const sessionId of [...this.peers.keys()]) this.drop(sessionId);
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
