// End-to-end stories in a real headless Chromium (Debian's /usr/bin/chromium) against a real
// Assize server. Started by tests/tests/browser.rs, which starts the server, creates the accounts
// and passes everything in the environment:
//   ASSIZE_STORIES       which stories to run: clerk, french, federation (comma-separated)
//   ASSIZE_URL           https://127.0.0.1:PORT (state A's server in the federation story)
//   ASSIZE_URL_B         state B's server (federation)
//   ASSIZE_SCREENSHOTS   folder for one PNG per main screen
//   ASSIZE_CLERK, ASSIZE_OFFICER, ASSIZE_OFFICER_B   usernames (password ASSIZE_PASSWORD); each
//                        enrols its second factor in the browser
//   ASSIZE_RECIPIENT     the code of state B's authority, to which A's officer writes
//   ASSIZE_INVITE, ASSIZE_INVITE_FR   two invitation links (/join#TOKEN) for the join story
//   ASSIZE_JUDGE, ASSIZE_HEARING      the judge (password only) and the hearing of the live story,
//                        whose ASSIZE_INVITE is a witness's link; ASSIZE_URL's server then
//                        advertises a non-loopback media address (browsers ignore loopback ICE)
//   ASSIZE_INVITE_INTERPRETER         the protected-witness story's interpreter's link (with
//                        ASSIZE_JUDGE, ASSIZE_HEARING and the witness's ASSIZE_INVITE)
// Prints one line per step; exits non-zero at the first failure. What the Firefox stories share
// with these is in common.mjs; firefox.mjs also imports this module for the Chromium side of its
// live story (the stories run only when this file is the script).

import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { AXE, env, inPageKeepPeerConnections, inPageReceiving, inPageVideoProgress, inPageWcagViolations, runStories, step,
  totp } from "./common.mjs";

const URL = env("ASSIZE_URL");
const SHOTS = env("ASSIZE_SCREENSHOTS");
const PASSWORD = env("ASSIZE_PASSWORD");

/// Checks the page against WCAG 2.1 A and AA with axe-core (evaluated through the DevTools
/// protocol, which the page's Content-Security-Policy does not apply to).
async function accessible(page, name) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(inPageWcagViolations);
  assert.deepEqual(violations, [], `${name}: WCAG 2.1 AA violations`);
}

/// Saves a screenshot of a main screen, after checking the screen's accessibility.
export async function shot(page, name, fullPage = true) {
  await accessible(page, name);
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
}

export async function newPage(browser, locale = "en-GB") {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true, // the server's certificate comes from the test's own development CA
    locale,
    viewport: { width: 1200, height: 900 },
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  // Keeps the page's peer connections, so that a story can say what a silent video received.
  await context.addInitScript(inPageKeepPeerConnections);
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    // A refused request logs a resource error by design; anything else at error level is a bug
    // (a Content-Security-Policy violation, a script error).
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on("dialog", (d) => d.accept());
  page.problems = problems;
  return { context, page };
}

/// Reloads `page` until `locator` shows (the other server works in the background).
async function eventually(page, locator, what, seconds = 60) {
  for (let i = 0; i < seconds; i += 1) {
    if (await locator.isVisible()) return;
    await page.waitForTimeout(1000);
    await page.reload();
    await page.locator("h1").first().waitFor();
  }
  throw new Error(`waited ${seconds} s for ${what}`);
}

async function moveTo(page, status) {
  await page.locator("#transition").getByLabel("Move to").selectOption(status);
  await page.locator("#transition").getByRole("button", { name: "Apply" }).click();
}

/// Signs in at the sign-in page; enrols TOTP when asked and returns the secret.
async function signInFirstTime(page, username, screenshot) {
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Set up your authenticator app" }).waitFor();
  const secret = (await page.locator("#totp-secret").textContent()).trim();
  if (screenshot) await shot(page, screenshot);
  await page.getByLabel(/6-digit code/).fill(totp(secret));
  await page.getByRole("button", { name: "Confirm" }).click();
  return secret;
}

async function clerkStory(browser) {
  console.log("story: a clerk signs in, books a hearing and invites people");
  const { context, page } = await newPage(browser);
  await page.goto(`${URL}/#/hearings`);
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  assert.equal(await page.locator("html").getAttribute("lang"), "en");
  await shot(page, "01-sign-in");
  step("a page that needs a session leads to sign-in");
  const secret = await signInFirstTime(page, env("ASSIZE_CLERK"), "02-totp-enrolment");
  await page.getByRole("heading", { name: "Hearings", level: 1 }).waitFor();
  step("enrolled TOTP and came back to the page asked for");

  await page.getByRole("link", { name: "Book a hearing" }).click();
  await page.getByLabel("Case reference").fill("TJ-PARIS-2026-0042");
  await page.getByLabel("Court").fill("Tribunal judiciaire de Paris");
  await page.getByLabel("Title of the hearing").fill("Hearing of witness A");
  await page.getByLabel("Date and time").fill("2026-12-14T09:30");
  await page.getByRole("button", { name: "Add a participant" }).click();
  await page.getByLabel("How the court refers to them").fill("Witness A");
  await shot(page, "04-booking");
  await page.getByRole("button", { name: "Book the hearing" }).click();
  await page.getByRole("heading", { name: /TJ-PARIS-2026-0042/ }).waitFor();
  const link = await page.getByLabel("Invitation link for Witness A").inputValue();
  assert.match(link, /^https:\/\/.+\/join#.{20,}$/, "the invitation link carries its token in the fragment");
  await page.getByRole("button", { name: "Copy link" }).click();
  await page.getByRole("button", { name: "Copied" }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link);
  step("booked the hearing; Witness A's single-use link is shown");

  await page.getByLabel("Role").selectOption("expert");
  await page.getByLabel("How the court refers to them").fill("Expert B");
  await page.getByRole("button", { name: "Invite someone" }).click();
  const expertLink = await page.getByLabel("Invitation link for Expert B").inputValue();
  assert.equal(await page.locator("#invitations tbody tr").count(), 2);
  step("created a second invitation from the hearing's page");

  const expertRow = page.locator("#invitations tbody tr", { hasText: "Expert B" });
  await expertRow.getByRole("button", { name: "Revoke" }).click();
  await expertRow.getByText("Revoked").waitFor();
  step("revoked it");

  // The expert lost the link: a new one for the same person.
  await expertRow.getByRole("button", { name: "New link" }).click();
  await page.locator("#announce").getByText("A new link for Expert B is shown below, once.").waitFor();
  const newLink = await page.getByLabel("Invitation link for Expert B").inputValue();
  assert.match(newLink, /^https:\/\/.+\/join#.{20,}$/);
  assert.notEqual(newLink, expertLink, "a new token");
  assert.equal(await page.locator("#invitations tbody tr").count(), 3);
  await page.locator("#invitations tbody tr", { hasText: "Expert B" }).getByText("Not used yet").waitFor();
  step("issued Expert B a new link; the old one stays revoked");

  await page.getByRole("button", { name: "Open the hearing" }).click();
  await page.locator("#hearing-state").getByText("Open").waitFor();
  await page.getByRole("button", { name: "Start the session" }).waitFor();
  step("opened the hearing; the next legal step is offered");
  await shot(page, "05-hearing");

  await page.getByRole("link", { name: "Hearings", exact: true }).click();
  await page.getByRole("link", { name: "TJ-PARIS-2026-0042" }).waitFor();
  await shot(page, "03-hearings");

  // The session ends (here: its cookie disappears); the next request leads to sign-in with a
  // message, and signing in returns to the page.
  const hearingUrl = await page.getByRole("link", { name: "TJ-PARIS-2026-0042" }).getAttribute("href");
  await context.clearCookies();
  await page.getByRole("link", { name: "TJ-PARIS-2026-0042" }).click();
  await page.getByText("Your session has ended").waitFor();
  await page.getByLabel("Username").fill(env("ASSIZE_CLERK"));
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").getByText("Enter the 6-digit code").waitFor();
  await page.getByLabel(/6-digit code/).fill(totp(secret, 1));
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: /TJ-PARIS-2026-0042/ }).waitFor();
  assert.ok(page.url().endsWith(hearingUrl), `back at ${hearingUrl}, not ${page.url()}`);
  step("an ended session leads to sign-in with a message, and back to the hearing after");

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByText("You are signed out.").waitFor();
  step("signed out");
  assert.deepEqual(page.problems, []);
  await context.close();
}

async function federationStory(browser) {
  console.log("story: an officer of state A drafts, completes, validates and sends an EIO; state B recognises it");
  const { context, page } = await newPage(browser);
  await page.goto(`${URL}/`);
  await signInFirstTime(page, env("ASSIZE_OFFICER"));
  await page.getByRole("heading", { name: /Welcome/ }).waitFor();
  await page.getByRole("link", { name: "Mutual legal assistance", exact: true }).click();
  await page.getByRole("link", { name: "New request" }).click();
  await page.getByLabel("Kind").selectOption("eio");
  await page.getByLabel("Executing (requested) authority").selectOption(env("ASSIZE_RECIPIENT"));
  await page.getByRole("button", { name: "Create the draft" }).click();
  await page.locator("#completeness").waitFor();
  const missing = page.locator("#completeness a");
  assert.ok((await missing.count()) >= 5, "an empty EIO lacks many fields");
  await page.locator('#completeness a[data-field="section_a.issuing_state"]').click();
  assert.equal(await page.evaluate(() => document.activeElement.dataset.path), "section_a.issuing_state",
    "a missing field's link puts the focus on that field");
  await page.locator("#completeness").scrollIntoViewIfNeeded();
  await shot(page, "06-eio-missing-fields", false);
  step("the new draft lists its missing fields, and each link leads to its field");

  const fill = (p, v) => page.locator(`[data-path="${p}"]`).fill(v);
  const choose = (p, v) => page.locator(`[data-path="${p}"]`).selectOption(v);
  const add = (p) => page.locator(`button.add[data-path="${p}"]`).click();
  await fill("section_a.issuing_state", "FR");
  await fill("section_a.executing_state", "DE");
  await add("section_c.measures");
  await choose("section_c.measures[0].kind", "hearing_by_videoconference");
  await fill("section_c.measures[0].description", "Hear the witness W. about the transfers of May 2026.");
  await add("section_e.persons");
  await fill("section_e.persons[0].name", "W.");
  await choose("section_e.persons[0].status", "witness");
  await choose("section_f.proceedings", "criminal");
  await fill("section_g.facts", "Between 1 and 31 May 2026 the suspect transferred funds obtained by fraud.");
  await add("section_g.offences");
  await fill("section_g.offences[0].legal_classification", "Escroquerie (art. 313-1 code pénal)");
  await fill("section_g.offences[0].annex_d_category", "8");
  await page.getByRole("button", { name: "Save the form" }).click();
  await page.locator('#completeness a[data-field="section_g.offences[0].maximum_penalty"]').waitFor();
  step("a half-filled form saves, and still names what it lacks");

  // Validation is refused while incomplete, and the user is sent to the list.
  await moveTo(page, "VALIDATED");
  await page.getByRole("alert").getByText("not complete yet").waitFor();
  step("validating an incomplete order is refused with the way forward");

  await fill("section_g.offences[0].maximum_penalty", "5 years' imprisonment");
  await fill("section_h.videoconference.person_to_be_heard", "W.");
  await choose("section_h.videoconference.capacity", "witness");
  await choose("section_k.authority_type", "investigating_judge");
  await fill("section_k.name", "Tribunal judiciaire de Paris");
  await fill("section_k.representative", "J. Dupont");
  await fill("section_k.position", "juge d'instruction");
  await fill("section_k.file_reference", "JI-2026-0042");
  await fill("section_k.email", "ji.paris@justice.example");
  await page.getByRole("button", { name: "Save the form" }).click();
  await page.getByText("The form is complete: it can be validated.").waitFor();
  step("completed the form");

  await page.getByLabel("File", { exact: true }).setInputFiles({ name: "commission-rogatoire.txt", mimeType: "text/plain",
    buffer: Buffer.from("Commission rogatoire internationale, JI-2026-0042.\n") });
  await page.getByRole("button", { name: "Attach" }).click();
  await page.locator("#attachments").getByText("commission-rogatoire.txt").waitFor();
  step("attached a file");

  await moveTo(page, "VALIDATED");
  await page.locator("#request-status").getByText("Validated").waitFor();
  await page.locator("#timeline li").filter({ hasText: "Validated" }).waitFor();
  const evidence = page.getByRole("link", { name: /evidence package/ });
  const href = await evidence.getAttribute("href");
  const zip = await page.evaluate(async (u) => {
    const r = await fetch(u);
    const b = new Uint8Array(await r.arrayBuffer());
    return { status: r.status, magic: String.fromCharCode(b[0], b[1]) };
  }, href);
  assert.deepEqual(zip, { status: 200, magic: "PK" }, "the evidence package downloads as a ZIP (ASiC-E)");
  step("validated it; the timeline and the evidence package follow");

  await moveTo(page, "TRANSMITTED");
  await page.locator("#request-status").getByText("Transmitted").waitFor();
  const requestUrl = page.url();
  step("sent it to state B");

  // State B: the order arrives and is acknowledged on arrival (Annex B); B's officer finds it
  // in the inbox and recognises it.
  const b = await newPage(browser);
  await b.page.goto(`${env("ASSIZE_URL_B")}/`);
  await signInFirstTime(b.page, env("ASSIZE_OFFICER_B"));
  await b.page.getByRole("heading", { name: /Welcome/ }).waitFor();
  await b.page.getByRole("link", { name: "Mutual legal assistance", exact: true }).click();
  const inbox = b.page.locator("#inbox tr", { hasText: "JI-2026-0042" });
  await eventually(b.page, inbox.getByText("Acknowledged"), "the order to reach B");
  await shot(b.page, "09-mla-inbox-state-b");
  await inbox.getByRole("link", { name: "JI-2026-0042" }).click();
  await b.page.locator("#timeline li").filter({ hasText: "received" }).first().waitFor();
  await b.page.getByRole("heading", { name: "G. Grounds for issuing" }).waitFor();
  await b.page.getByText("Escroquerie (art. 313-1 code pénal)").waitFor();
  await b.page.getByText("Hearing by videoconference", { exact: true }).waitFor();
  await moveTo(b.page, "RECOGNISED");
  await b.page.locator("#request-status").getByText("Recognised").waitFor();
  await shot(b.page, "10-eio-recognised-state-b");
  step("B's officer found it acknowledged in the inbox and recognised it");

  await page.goto(requestUrl);
  await eventually(page, page.locator("#request-status").getByText("Recognised"), "A to hear of the recognition");
  await shot(page, "07-eio-recognised-seen-in-state-a");
  await page.getByRole("link", { name: "Mutual legal assistance", exact: true }).click();
  await page.locator("#outbox").getByText("Recognised").waitFor();
  await shot(page, "08-mla-outbox-state-a");
  step("A's officer sees the recognition on the request and in the outbox");

  // State B executes the order: its court heard the witness under the order's reference and
  // closed the hearing (set up by the test); B's officer returns the hearing's sealed record.
  await moveTo(b.page, "IN_EXECUTION");
  await b.page.locator("#request-status").getByText("In execution").waitFor();
  const record = b.page.locator("#hearing-record");
  await record.getByRole("heading", { name: "Return a hearing's record" }).waitFor();
  await record.getByText("“JI-2026-0042”").first().waitFor();
  const closed = record.locator("option", { hasText: /^Amtsgericht Tiergarten, .*: Closed$/ });
  await record.getByLabel("Hearing").selectOption(await closed.getAttribute("value"));
  await shot(b.page, "12-hearing-record-return-state-b");
  await record.getByRole("button", { name: "Return the record" }).click();
  await b.page.locator("#request-status").getByText("Evidence transmitted").waitFor();
  await b.page.locator("#announce").getByText("The hearing's record is on its way to the issuing authority.").waitFor();
  step("B's officer returned the closed hearing's sealed record: the order is Evidence transmitted");
  assert.deepEqual(b.page.problems, []);
  await b.context.close();

  await page.goto(requestUrl);
  await eventually(page, page.locator("#request-status").getByText("Evidence transmitted"), "A to receive the record");
  step("A's officer sees the evidence arrive");

  // A's server verified the record on arrival: the page says so, and the package downloads.
  const check = page.locator("#evidence-checks li");
  await check.getByText(/^Evidence received on .+: verified — [1-9]\d* files$/).waitFor();
  const received = await page.evaluate(async (u) => {
    const r = await fetch(u);
    const b = new Uint8Array(await r.arrayBuffer());
    return { status: r.status, magic: String.fromCharCode(b[0], b[1]) };
  }, await check.getByRole("link", { name: /as received$/ }).getAttribute("href"));
  assert.deepEqual(received, { status: 200, magic: "PK" }, "the received evidence package downloads as a ZIP (ASiC-E)");
  step("A's page shows the evidence package verified on arrival, and it downloads");

  // The audit trail: the sending (validated → transmitted, delivered with B's signed receipt)
  // and the evidence's arrival, each entry with its inclusion proof in A's log.
  const trail = page.locator("#audit-trail");
  await trail.getByText("Moved from Validated to Transmitted").waitFor();
  await trail.locator('li[data-action="mla.message_delivered"]').getByText("Sent to DE-BfJ: signed receipt received").first().waitFor();
  await trail.getByText("Received from the other state: Evidence transmitted").waitFor();
  const verified = trail.locator('li[data-action="mla.evidence_verified"]');
  await verified.getByText(/Evidence package received and verified \([1-9]\d* files\)/).waitFor();
  const proof = await page.evaluate(async (u) => {
    const r = await fetch(u);
    const j = await r.json();
    return { status: r.status, action: JSON.parse(j.body).action, leaf: j.leaf_hash, proof: Array.isArray(j.inclusion_proof) };
  }, await verified.getByRole("link", { name: /^Proof/ }).getAttribute("href"));
  assert.deepEqual({ status: proof.status, action: proof.action, proof: proof.proof },
    { status: 200, action: "mla.evidence_verified", proof: true }, "the entry's proof link gives its inclusion proof");
  await page.locator("#audit-trail").scrollIntoViewIfNeeded();
  await shot(page, "13-eio-evidence-verified-audit-state-a");
  step("A's audit trail lists the sending and the evidence's arrival, each with its proof");
  assert.deepEqual(page.problems, []);
  await context.close();
}

async function frenchStory(browser) {
  console.log("story: a French browser gets French, and the choice of language is remembered");
  const { context, page } = await newPage(browser, "fr-FR");
  await page.goto(`${URL}/`);
  await page.getByRole("heading", { name: "Connexion" }).waitFor();
  assert.equal(await page.locator("html").getAttribute("lang"), "fr");
  // By keyboard alone: the skip link, then the fields in order, Enter to send.
  const focused = () => page.evaluate(() => document.activeElement.textContent || document.activeElement.name);
  await page.keyboard.press("Tab");
  assert.equal(await focused(), "Aller au contenu");
  await page.keyboard.press("Enter");
  await page.keyboard.press("Tab");
  assert.equal(await focused(), "username");
  await page.keyboard.type("nobody");
  await page.keyboard.press("Tab");
  await page.keyboard.type("not the password at all");
  await page.keyboard.press("Enter");
  await page.getByRole("alert").getByText("L'identifiant ou le mot de passe est incorrect").waitFor();
  await shot(page, "11-sign-in-fr");
  step("French texts, signing in by keyboard alone, and the server's error shown in French");
  await page.getByLabel("Langue").selectOption("en");
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await page.reload();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  step("switched to English, still English after a reload");
  assert.deepEqual(page.problems, []);
  await context.close();
}

/// What the page's peer connections receive for the <video> matching `selector`, to say why a
/// video does not play (needs the `__peers` list kept by newPage's init script).
export async function receiving(page, selector) {
  return page.evaluate(inPageReceiving, selector);
}

/// Waits until the <video> matching `selector` plays frames that advance (within `timeout` ms
/// for each of the two waits: a generous limit, not a measurement).
export async function videoPlays(page, selector, timeout = 20_000) {
  await page.waitForFunction((sel) => {
    const v = document.querySelector(sel);
    return v && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 0;
  }, selector, { timeout });
  const before = await page.evaluate(inPageVideoProgress, selector);
  await page.waitForFunction(([sel, n]) => document.querySelector(sel).getVideoPlaybackQuality().totalVideoFrames > n,
    [selector, before.frames], { timeout });
  return before;
}

async function joinStory(browser) {
  console.log("story: an invitee opens the link, checks camera and microphone, and waits; a refused camera in French");
  const link = env("ASSIZE_INVITE");
  const token = link.split("#")[1];
  const { context, page } = await newPage(browser);
  await context.grantPermissions(["camera", "microphone"]);
  await page.goto(link);
  await page.getByRole("heading", { name: "Check your camera and microphone" }).waitFor();
  assert.ok(!page.url().includes(token), "the token is taken out of the address bar");
  await page.getByText("You are taking part as: Witness.").waitFor();
  await page.locator("#camera-check").getByText("Your camera works").waitFor();
  await page.locator("#mic-check").getByText("Your microphone works").waitFor();
  const { width } = await videoPlays(page, "video.preview");
  await page.waitForFunction(() => document.getElementById("mic-level").dataset.heard === "1", null, { timeout: 20_000 });
  step(`the link is redeemed; the camera preview plays (${width} px wide) and the microphone meter moves`);
  const connection = await page.locator("#connection-check").getByText("Your connection to the court works")
    .textContent({ timeout: 20_000 });
  await page.getByRole("button", { name: "Play a test sound" }).click();
  await page.getByText("Did you hear the sound?").waitFor();
  await page.getByRole("button", { name: "No", exact: true }).click();
  await page.locator("#speaker-result").getByText("Turn the volume up").waitFor();
  await page.getByRole("button", { name: "Play a test sound" }).click();
  await page.getByRole("button", { name: "Yes, I heard it" }).click();
  await page.locator("#speaker-result").getByText("Your speakers work").waitFor();
  step(`the speaker check asks and answers both ways; "${connection}"`);
  await shot(page, "20-join-self-test");
  await page.getByRole("button", { name: "Continue to the waiting room" }).click();
  await page.getByRole("heading", { name: "Waiting room" }).waitFor();
  await page.locator("#room-status").getByText("You are in the waiting room, waiting to be admitted.").waitFor();
  await page.locator("figure.tile").getByText("You", { exact: true }).waitFor();
  await page.getByRole("heading", { name: "Message from the court" }).waitFor();
  await shot(page, "21-waiting-room");
  await page.reload();
  await page.getByRole("heading", { name: "Waiting room" }).waitFor();
  step("the waiting room with the court's message; a reload stays there without spending the link again");

  const other = await newPage(browser);
  await other.page.goto(link);
  await other.page.getByRole("heading", { name: "This invitation cannot be used" }).waitFor();
  await other.page.getByRole("alert").getByText("This invitation can no longer be used").waitFor();
  step("the same link in another browser is refused and says to ask the court");
  await other.context.close();

  const fr = await newPage(browser, "fr-FR"); // no permission granted: the browser refuses
  await fr.page.goto(env("ASSIZE_INVITE_FR"));
  await fr.page.getByRole("heading", { name: "Vérifiez votre caméra et votre micro" }).waitFor();
  await fr.page.locator("#camera-check").getByText("La caméra est bloquée").waitFor();
  await fr.page.locator("#mic-check").getByText("Le micro est bloqué").waitFor();
  await shot(fr.page, "22-join-refused-fr");
  await fr.page.getByRole("button", { name: "Continuer sans eux" }).click();
  await fr.page.getByRole("heading", { name: "Salle d'attente" }).waitFor();
  await fr.page.locator("#room-status").getByText("Vous êtes dans la salle d'attente").waitFor();
  step("a refused camera and microphone are named in French, with what to do; one may still go on");
  assert.deepEqual(fr.page.problems, []);
  await fr.context.close();
  assert.deepEqual(page.problems, []);
  await context.close();
}

/// Signs in with the password alone (a server that asks no second factor of this role).
export async function signInWithPassword(page, username) {
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function liveStory(browser) {
  console.log("story: a judge and an invited witness join over real WebRTC; the judge starts and calls the witness");
  const judge = await newPage(browser);
  await judge.context.grantPermissions(["camera", "microphone"]);
  await judge.page.goto(`${URL}/#/hearings/${env("ASSIZE_HEARING")}/room`);
  await judge.page.getByRole("heading", { name: "Sign in" }).waitFor();
  await signInWithPassword(judge.page, env("ASSIZE_JUDGE"));
  await judge.page.getByRole("heading", { name: "Hearing room" }).waitFor();
  await judge.page.getByRole("heading", { name: "The judge's console" }).waitFor();
  await judge.page.locator("#room-status").getByText("You are in the waiting room").waitFor();
  step("the judge is in the room's waiting room, with the console");

  const witness = await newPage(browser);
  await witness.context.grantPermissions(["camera", "microphone"]);
  await witness.page.goto(env("ASSIZE_INVITE"));
  await witness.page.getByRole("button", { name: "Continue to the waiting room" }).click();
  await witness.page.locator("#room-status").getByText("waiting to be admitted").waitFor();
  const row = judge.page.locator("#console tr", { hasText: "Witness A" });
  await row.getByText("Waiting room").waitFor();
  step("the witness waits; the judge's console lists them in the waiting room");

  await judge.page.locator("#console").getByRole("button", { name: "Enter the hearing room" }).click();
  await judge.page.locator("#room-status").getByText("You are in the hearing room.").waitFor();
  await judge.page.getByRole("button", { name: "Start the session" }).click();
  await judge.page.getByText("The hearing is: In session.").waitFor();
  await row.getByRole("button", { name: "Call" }).click();
  await row.getByText("Hearing room").waitFor();
  step("the judge enters, starts the session and calls the witness");

  const witnessTile = judge.page.locator("figure.tile", { hasText: "Witness A (Witness)" });
  await witnessTile.waitFor();
  const w = await witnessTile.locator("video").getAttribute("data-participant");
  const seen = await videoPlays(judge.page, `video[data-participant="${w}"]`);
  step(`the judge sees the witness's video playing (${seen.width} px wide, frames advancing)`);
  await witness.page.locator("section.room[data-me]").waitFor();
  const me = await witness.page.locator("section.room").getAttribute("data-me");
  const other = `video[data-participant^="p"]:not([data-participant="p${me}"])`;
  const back = await videoPlays(witness.page, other);
  await witness.page.locator("#room-status").getByText("You are in the hearing room.").waitFor();
  step(`the witness sees the judge's video playing (${back.width} px wide) and knows they are in the hearing room`);
  await shot(judge.page, "23-hearing-room-judge");
  await shot(witness.page, "24-hearing-room-witness");

  // The witness's network drops: their signaling socket closes under the page. The page
  // reconnects by itself, and the witness is back in the hearing room, not in the waiting room;
  // the judge sees them again.
  await witness.page.evaluate(() => window.__sockets.at(-1).close());
  await witness.page.locator("#announce").getByText("Reconnected to the hearing.").waitFor({ timeout: 60_000 });
  await witness.page.locator("#room-status").getByText("You are in the hearing room.").waitFor();
  await row.getByText("Hearing room").waitFor();
  const again = judge.page.locator("figure.tile", { hasText: "Witness A (Witness)" }).locator("video");
  await again.waitFor();
  const w2 = await again.getAttribute("data-participant");
  assert.equal(w2, w, "the same participant");
  await videoPlays(judge.page, `video[data-participant="${w2}"]`, 60_000);
  await videoPlays(witness.page, other, 60_000);
  step("the witness's connection dropped; their page reconnected by itself, back in the hearing room, " +
    "and each sees the other's video again");

  assert.deepEqual(judge.page.problems, []);
  assert.deepEqual(witness.page.problems, []);
  await witness.context.close();
  await judge.context.close();
}

/// A live participant's page opened from an invitation link, past the self-test.
async function invitee(browser, link, locale = "en-GB") {
  const p = await newPage(browser, locale);
  await p.context.grantPermissions(["camera", "microphone"]);
  await p.page.goto(link);
  await p.page.locator("#camera-check.ok").waitFor();
  await p.page.locator(".actions button:not(.secondary)").click();
  await p.page.locator("section.room[data-me]").waitFor();
  return p;
}

async function protectedWitnessStory(browser) {
  console.log("story: the judge puts a witness under a protective order from the console; the witness reads what is hidden " +
    "beside their preview; recording is announced; connection quality and a consultation room on the console");
  const judge = await newPage(browser);
  await judge.context.grantPermissions(["camera", "microphone"]);
  await judge.page.goto(`${URL}/#/hearings/${env("ASSIZE_HEARING")}/room`);
  await signInWithPassword(judge.page, env("ASSIZE_JUDGE"));
  const console_ = judge.page.locator("#console");
  await console_.getByRole("button", { name: "Enter the hearing room" }).click();
  await judge.page.locator("#room-status").getByText("You are in the hearing room.").waitFor();
  await console_.getByRole("button", { name: "Start the session" }).click();
  await judge.page.getByText("The hearing is: In session.").waitFor();

  const witness = await invitee(browser, env("ASSIZE_INVITE"));
  const interpreter = await invitee(browser, env("ASSIZE_INVITE_INTERPRETER"), "fr-FR");
  const witnessRow = console_.locator("tr", { hasText: "Witness A" });
  const interpreterRow = console_.locator("tr", { hasText: "Interpreter C" });
  await witnessRow.getByText("Waiting room").waitFor();
  await interpreterRow.getByText("Waiting room").waitFor();
  // Before any order: the witness is told that nothing is hidden.
  await witness.page.locator("#protection-statement").getByText("No protective order applies to you").waitFor();
  step("judge, witness and interpreter (in French) are connected; the witness is told nothing is hidden yet");

  await witnessRow.getByRole("button", { name: "Protective order" }).click();
  const editor = judge.page.locator("#order-editor form");
  await editor.getByRole("heading", { name: "Protective order for Witness A" }).waitFor();
  await editor.getByLabel("Pseudonym").fill("Witness X");
  await editor.getByLabel("Voice", { exact: true }).selectOption("distorted");
  await editor.getByLabel("Face", { exact: true }).selectOption("masked");
  assert.equal(await editor.getByLabel("Judge", { exact: true }).isChecked(), true, "the judge receives the original by default");
  assert.equal(await editor.getByLabel("Defence counsel").isChecked(), false);
  await shot(judge.page, "27-protective-order-editor");
  await editor.getByRole("button", { name: "Save the order" }).click();
  await editor.waitFor({ state: "detached" });
  step("the judge made the order in the console's editor: pseudonym, voice distorted, face masked, original to the judge");

  const statement = "Your face is masked and your voice distorted for everyone except the judge.";
  await witness.page.locator("#protection-statement").getByText(statement).waitFor();
  await witness.page.locator("#protection-pseudonym").getByText("the others see you as “Witness X”").waitFor();
  step(`the witness reads: "${statement}"`);

  await witnessRow.getByRole("button", { name: "Call" }).click();
  await interpreterRow.getByRole("button", { name: "Admit" }).click();
  await witnessRow.getByText("Hearing room").waitFor();
  await interpreterRow.getByText("Hearing room").waitFor();
  await witness.page.locator("#room-status").getByText("You are in the hearing room.").waitFor();
  await witness.page.getByRole("heading", { name: "Hearing room", level: 1 }).waitFor();
  assert.equal(await witness.page.locator("#court-message").isVisible(), false, "the waiting room's message is gone");
  // The anonymised stream starts on the server's transcoding thread (a loaded machine may take
  // a while to build the face detector): a generous limit.
  let preview;
  try {
    preview = await videoPlays(witness.page, "#own-preview video", 120_000);
  } catch (e) {
    console.log(`the preview did not play: ${JSON.stringify(await receiving(witness.page, "#own-preview video"))}`);
    const tile = interpreter.page.locator("figure.tile", { hasText: "(Témoin)" }).locator("video");
    const key = (await tile.count()) ? await tile.getAttribute("data-participant") : null;
    console.log(`the interpreter receives of the witness: ${key ? JSON.stringify(await receiving(interpreter.page, `video[data-participant="${key}"]`)) : "no tile"}`);
    throw e;
  }
  await witness.page.locator("#own-preview figcaption").getByText("What the others see of you (as Witness X)").waitFor();
  assert.ok(await witness.page.locator("#protection #own-preview").isVisible(), "the preview is beside the statement");
  step(`called in, the witness sees their own anonymised preview (${preview.width} px wide) beside the statement`);

  // The interpreter's page names the witness by the pseudonym only, in French.
  const seen = interpreter.page.locator("figure.tile", { hasText: "Witness X (Témoin)" });
  await seen.waitFor();
  const key = await seen.locator("video").getAttribute("data-participant");
  await videoPlays(interpreter.page, `video[data-participant="${key}"]`);
  assert.ok(!(await interpreter.page.content()).includes("Witness A"), "the court's label never reaches the interpreter");
  await interpreter.page.locator("figure.tile", { hasText: "(Juge)" }).waitFor();
  step("the interpreter's page shows the witness as « Witness X (Témoin) », never by the court's label");

  // Pictures of the witness as the interpreter's page shows them, and as the judge's (whom the
  // order names) does: the test looks for the witness's face in each.
  const frames = process.env.ASSIZE_FRAMES;
  if (frames) {
    mkdirSync(frames, { recursive: true });
    await saveFrames(interpreter.page, `video[data-participant="${key}"]`, path.join(frames, "interpreter"), 6);
    const raw = judge.page.locator("figure.tile", { hasText: "Witness A" }).locator("video");
    const rawKey = await raw.getAttribute("data-participant");
    await videoPlays(judge.page, `video[data-participant="${rawKey}"]`);
    await saveFrames(judge.page, `video[data-participant="${rawKey}"]`, path.join(frames, "judge"), 3);
    step("saved pictures of the witness as the interpreter and the judge receive them");
  }

  // Recording: a banner on every page, in a live region.
  await console_.getByRole("button", { name: "Start recording" }).click();
  const banner = witness.page.locator("#recording-banner");
  await banner.getByText("this hearing is being recorded").waitFor();
  assert.equal(await banner.getAttribute("aria-live"), "polite");
  assert.equal(await banner.getAttribute("data-on"), "true");
  await interpreter.page.locator("#recording-banner").getByText("cette audience est enregistrée").waitFor();
  await judge.page.locator("#recording-banner").getByText("this hearing is being recorded").waitFor();
  step("recording started: the banner shows on the witness's, the interpreter's (in French) and the judge's pages");
  await shot(witness.page, "25-protected-witness");
  await shot(interpreter.page, "28-recording-banner-fr");

  // Connection quality per participant, from the server's heartbeat.
  await witnessRow.locator("td.connection .quality").waitFor();
  const figures = await witnessRow.locator("td.connection").textContent();
  assert.match(figures, /^(Good|Poor|Bad) /);
  assert.match(figures, /% loss, (\d+|—) ms, \d+ kbit\/s/);
  step(`the console shows the witness's connection: ${figures}`);

  // A consultation room for the witness and the interpreter: opened, locked, unlocked, ended.
  await console_.getByLabel("Choose Witness A for a consultation room").check();
  await console_.getByLabel("Choose Interpreter C for a consultation room").check();
  await console_.getByRole("button", { name: "Open a consultation room" }).click();
  const room = console_.locator("#consultations li", { hasText: "Consultation room 1" });
  await room.getByText("Witness A").waitFor();
  await room.getByText("Not locked").waitFor();
  await witnessRow.getByText("Consultation room 1").waitFor();
  await witness.page.locator("#room-status").getByText("You are in a consultation room.").waitFor();
  await room.getByRole("button", { name: "Lock" }).click();
  await room.getByText("Locked", { exact: true }).waitFor();
  await shot(judge.page, "26-judge-console");
  await room.getByRole("button", { name: "Unlock" }).click();
  await room.getByText("Not locked").waitFor();
  await room.getByRole("button", { name: "End" }).click();
  await console_.getByText("No consultation room is open.").waitFor();
  await witnessRow.getByText("Hearing room").waitFor();
  await witness.page.locator("#room-status").getByText("You are in the hearing room.").waitFor();
  step("the judge opened a consultation room for the witness and the interpreter, locked, unlocked and ended it");

  // A screen: the interpreter stops receiving the witness's video (and gets it back when it is
  // lifted), counted in the interpreter's own WebRTC statistics.
  const witnessVideo = `video[data-participant="${key}"]`;
  const packets = async () => (await receiving(interpreter.page, witnessVideo)).inbound?.packets ?? 0;
  const screens = judge.page.locator("#screens");
  await screens.getByLabel("Who must not see").selectOption({ label: "Interpreter C" });
  await screens.getByLabel("Whose video").selectOption({ label: "Witness A" });
  await screens.getByRole("button", { name: "Put up the screen" }).click();
  await screens.getByText("Interpreter C does not see Witness A.").waitFor();
  await judge.page.waitForTimeout(1500); // packets already in flight arrive
  const screenedAt = await packets();
  await judge.page.waitForTimeout(2000);
  assert.equal(await packets(), screenedAt, "a screened interpreter receives none of the witness's video");
  await shot(judge.page, "29-judge-console-screen");
  await screens.getByRole("button", { name: "Lift" }).click();
  await screens.getByText("No screen is up.").waitFor();
  await interpreter.page.waitForFunction(async ([sel, n]) => {
    const v = document.querySelector(sel);
    const track = v && v.srcObject && v.srcObject.getVideoTracks()[0];
    for (const pc of window.__peers || []) {
      for (const r of (await pc.getStats()).values()) {
        if (r.type === "inbound-rtp" && r.kind === "video" && track && r.trackIdentifier === track.id) {
          return r.packetsReceived > n;
        }
      }
    }
    return false;
  }, [witnessVideo, screenedAt], { timeout: 20_000 });
  step(`the judge screened the interpreter from the witness (${screenedAt} packets, then none for 2 s) and lifted it`);

  // The judge turns the interpreter's camera off, then allows it again.
  await interpreterRow.getByRole("button", { name: "Turn camera off" }).click();
  await interpreterRow.getByRole("cell", { name: "Off", exact: true }).waitFor();
  await interpreterRow.getByRole("button", { name: "Allow camera" }).click();
  await interpreterRow.getByRole("cell", { name: "On", exact: true }).first().waitFor();
  step("the judge turned the interpreter's camera off and allowed it again");

  await console_.getByRole("button", { name: "Stop recording" }).click();
  await banner.getByText("The recording has stopped.").waitFor();
  assert.equal(await banner.getAttribute("data-on"), "false");
  // The stop is done (sealed and audited) when the console's request has come back and it says
  // so (the room flips before the seal; closing the page earlier would abort the request).
  await judge.page.locator("#announce").getByText("The recording has stopped.").waitFor();
  await console_.getByRole("button", { name: "Start recording" }).waitFor();
  step("recording stopped: the witness's banner says so");

  // The statement in French, from the same code.
  const fr = await judge.page.evaluate(async () => {
    const i18n = await import("/app/js/i18n.js");
    const { protectionStatement } = await import("/app/js/views/room.js");
    const before = i18n.lang();
    await i18n.use("fr", false);
    const text = [
      protectionStatement({ voice: "distorted", face: "masked", raw_to: ["judge"] }),
      protectionStatement({ voice: "none", face: "full_frame", raw_to: ["judge", "prosecutor"] }),
      protectionStatement({ voice: "distorted", face: "none", raw_to: [] }),
    ];
    await i18n.use(before, false);
    return text;
  });
  assert.deepEqual(fr, [
    "Votre visage est masqué et votre voix déformée pour tous sauf le juge.",
    "Votre image est réduite à une silhouette pour tous sauf le juge et le procureur. Votre voix est entendue telle quelle.",
    "Votre voix est déformée pour tous. Votre visage est vu tel quel.",
  ]);
  step("the same statements in French");

  for (const p of [judge, witness, interpreter]) assert.deepEqual(p.page.problems, []);
  await interpreter.context.close();
  await witness.context.close();
  await judge.context.close();
}

/// Debian's Chromium, headless, with a fake camera and microphone; whether a page may use them
/// is still the permission a story grants (or not) to its browser context.
/// With ASSIZE_FAKE_VIDEO (a Y4M file), every fake camera shows that video instead of Chromium's
/// test pattern (the protected-witness story: a face).
export function launchChromium() {
  const video = process.env.ASSIZE_FAKE_VIDEO;
  return chromium.launch({
    executablePath: process.env.ASSIZE_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required",
      ...(video ? [`--use-file-for-fake-video-capture=${video}`] : [])],
  });
}

/// Saves `n` pictures of the <video> matching `selector`, half a second apart, as raw RGBA
/// (`<prefix>-<i>-<width>x<height>.rgba`), for the test to look for faces in.
async function saveFrames(page, selector, prefix, n) {
  for (let i = 0; i < n; i += 1) {
    const f = await page.locator(selector).evaluate((v) => {
      const c = document.createElement("canvas");
      [c.width, c.height] = [v.videoWidth, v.videoHeight];
      const g = c.getContext("2d");
      g.drawImage(v, 0, 0);
      const data = g.getImageData(0, 0, c.width, c.height).data;
      let bin = "";
      for (let j = 0; j < data.length; j += 0x8000) bin += String.fromCharCode(...data.subarray(j, j + 0x8000));
      return { w: c.width, h: c.height, b64: btoa(bin) };
    });
    writeFileSync(`${prefix}-${i}-${f.w}x${f.h}.rgba`, Buffer.from(f.b64, "base64"));
    await page.waitForTimeout(500);
  }
}

// Run as a script (not imported by firefox.mjs for its Chromium pages): the stories named in
// ASSIZE_STORIES.
if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runStories({ clerk: clerkStory, french: frenchStory, federation: federationStory, join: joinStory, live: liveStory,
    witness: protectedWitnessStory }, launchChromium);
}
