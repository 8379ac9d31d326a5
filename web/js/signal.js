// The hearing's signaling socket and peer connection (docs/protocol.md, "Hearing signaling",
// protocol v1): join → joined; the client's one offer with its camera and microphone → answer;
// then every renegotiation is offered by the server and answered here. Each forwarded stream's
// id is `p<participant number>`, naming its publisher. Messages are handled one at a time, in
// order, so a renegotiation never overlaps the previous one.

/// Connects to hearing `hearingId`, publishing `local` (a MediaStream, or null to only receive).
/// `on` receives: joined(number), recording(on) (with `joined`, then at each change),
/// stream(number, MediaStream), gone(number), state(text), error({code, message}), closed()
/// (the socket closed by itself: the page reconnects). Returns { close() }, after which nothing
/// more is told.
export function connect(hearingId, local, on) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/api/v1/hearings/${encodeURIComponent(hearingId)}/signal`);
  const send = (m) => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ v: 1, ...m })); };
  let pc = null;
  let queue = Promise.resolve();
  const streams = new Map(); // stream id → MediaStream

  function peer() {
    pc = new RTCPeerConnection();
    pc.onicecandidate = (e) => {
      // The server resolves no mDNS names (docs/protocol.md): a `.local` candidate is no use to it.
      if (e.candidate && e.candidate.candidate && !/\.local\s/.test(e.candidate.candidate)) {
        send({ type: "candidate", candidate: e.candidate.toJSON() });
      }
    };
    pc.onconnectionstatechange = () => on.state(pc.connectionState);
    pc.ontrack = (e) => {
      const stream = e.streams[0];
      const m = stream && /^p(\d+)$/.exec(stream.id);
      if (!m) return;
      const number = Number(m[1]);
      if (!streams.has(stream.id)) {
        streams.set(stream.id, stream);
        stream.addEventListener("removetrack", () => {
          if (stream.getTracks().length === 0) {
            streams.delete(stream.id);
            on.gone(number);
          }
        });
      }
      on.stream(number, stream);
    };
    // One audio and one video section, sending what the self-test found (or nothing).
    for (const kind of ["audio", "video"]) {
      const track = local ? local.getTracks().find((tr) => tr.kind === kind) : null;
      if (track) pc.addTrack(track, local);
      else pc.addTransceiver(kind, { direction: "recvonly" });
    }
  }

  async function handle(m) {
    switch (m.type) {
      case "joined": {
        on.joined(m.participant);
        on.recording(m.recording === true);
        peer();
        await pc.setLocalDescription(await pc.createOffer());
        send({ type: "offer", sdp: pc.localDescription.sdp });
        break;
      }
      case "answer":
        await pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
        break;
      case "offer":
        await pc.setRemoteDescription({ type: "offer", sdp: m.sdp });
        await pc.setLocalDescription(await pc.createAnswer());
        send({ type: "answer", sdp: pc.localDescription.sdp });
        break;
      case "recording":
        on.recording(m.on === true);
        break;
      case "recording_failed":
        // To the bench only: recording stopped on its own (a full disk). The `recording` event
        // that comes with it turns the banner off; this says why.
        on.error({ code: "recording_failed", message: `${m.message} (${m.reason})` });
        break;
      case "error":
        on.error(m);
        break;
      default:
        break; // a newer server's message this client does not know: ignored, as the protocol says
    }
  }

  ws.onopen = () => send({ type: "join" });
  ws.onmessage = (ev) => {
    let m;
    try {
      m = JSON.parse(ev.data);
    } catch {
      return;
    }
    queue = queue.then(() => handle(m)).catch((err) => on.error({ code: "client", message: String(err) }));
  };
  ws.onclose = () => on.closed();
  return {
    close() {
      // Closed on purpose: none of this connection's events reach the page any more.
      ws.onclose = null;
      ws.onmessage = null;
      send({ type: "leave" });
      ws.close();
      if (pc) {
        pc.onconnectionstatechange = null;
        pc.ontrack = null;
        pc.close();
      }
    },
  };
}
