// End-to-end stories in a real headless Firefox (Debian's /usr/bin/firefox-esr) against a real
// Assize server, driven by puppeteer-core over WebDriver BiDi (playwright-core drives only its
// own patched Firefox builds, not the stock one users have). Started by tests/tests/browser.rs,
// which starts the server, creates the accounts and passes everything in the environment (the
// same variables as stories.mjs):
//   ASSIZE_STORIES       which stories to run: clerk, live, judge (comma-separated)
//   ASSIZE_URL, ASSIZE_SCREENSHOTS, ASSIZE_PASSWORD
//   ASSIZE_CLERK         the clerk of the clerk story, who enrols the second factor here
//   ASSIZE_JUDGE, ASSIZE_HEARING, ASSIZE_INVITE   the live story: the judge (password only, in
//                        Chromium, through stories.mjs's helpers), their hearing, and a witness's
//                        invitation link opened in Firefox; ASSIZE_URL's server then advertises a
//                        non-loopback media address (browsers ignore loopback ICE candidates);
//                        the judge story: the same, with the judge in Firefox, the witness in
//                        Chromium
// Texts are the application's own (web/i18n/en.json), looked up by key. Prints one line per
// step; exits non-zero at the first failure.
//
// Firefox's fake camera and microphone are preferences (media.navigator.streams.fake: a test
// pattern and a tone; media.navigator.permission.disabled: no permission prompt, so every page
// may use them); see firefoxPreferences below. Its autoplay policy is left as users have it:
// sound waits for a click on the page. Screenshots are named `<screen>-firefox.png`.

import assert from "node:assert/strict";
import path from "node:path";
import puppeteer from "puppeteer-core";
import { AXE, env, inPageAudioPacketsReceived, inPageKeepPeerConnections, inPageReceiving, inPageVideoProgress,
  inPageWcagViolations, runStories, step, texts, totp } from "./common.mjs";
import * as chromium from "./stories.mjs";

const URL = env("ASSIZE_URL");
const SHOTS = env("ASSIZE_SCREENSHOTS");
const PASSWORD = env("ASSIZE_PASSWORD");
const t = texts("en");

/// The preferences the Firefox of these stories runs with, beyond puppeteer's own automation
/// profile. Checked with firefox-esr 153.
export const firefoxPreferences = {
  // A fake camera (a 640x480 picture whose colour changes) and microphone (a tone) instead of devices,
  // and no permission prompt for them (headless Firefox has nobody to answer one).
  "media.navigator.streams.fake": true,
  "media.navigator.permission.disabled": true,
  // No sound card on a test machine: Firefox's audio library (cubeb) finds no output device,
  // and every AudioContext (the self-test's microphone meter) stays "suspended". A mock device
  // lets them run.
  "media.cubeb.force_mock_context": true,
  // The page's language, as the Chromium stories' locale en-GB.
  "intl.accept_languages": "en-GB, en",
};

/// Debian's Firefox ESR, headless, through WebDriver BiDi.
export function launchFirefox() {
  return puppeteer.launch({
    browser: "firefox",
    executablePath: process.env.ASSIZE_FIREFOX || "/usr/bin/firefox-esr",
    headless: true,
    acceptInsecureCerts: true, // the server's certificate comes from the test's own development CA
    defaultViewport: { width: 1200, height: 900 },
    extraPrefsFirefox: firefoxPreferences,
  });
}

/// The Firefox pages a story opened, to show what they said when the story fails.
const opened = [];

/// What each Firefox page of a failed story shows and complained of.
async function explain() {
  for (const page of opened) {
    if (page.isClosed()) continue;
    const text = await page.evaluate(() => document.body.innerText).catch((e) => `(unreadable: ${e.message})`);
    console.log(`Firefox page ${page.url()}:\n${text.slice(0, 2000)}\nproblems: ${JSON.stringify(page.problems)}`);
  }
}

/// A page in a context of its own (its own cookies and storage, as another person's browser),
/// which records script errors and console errors in `page.problems` and accepts dialogs.
/// Firefox reports a Content-Security-Policy violation as a page error.
async function newPage(browser) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.evaluateOnNewDocument(inPageKeepPeerConnections);
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    // Anything at error level is a bug (a Content-Security-Policy violation, a script error).
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("dialog", (d) => d.accept());
  page.problems = problems;
  opened.push(page);
  return { context, page };
}

/// In the page: the first visible element of `kind` named `name` exactly: a "heading" (h1–h6),
/// "button" or "link" by its text or aria-label; a "field" (input, select, textarea) by the text
/// of its <label> (without the parts hidden from assistive technology, like the required
/// field's asterisk) or its aria-label. Null when there is none (yet).
function inPageFind(kind, name) {
  const text = (e) => e.getAttribute("aria-label") || [...e.childNodes]
    .filter((n) => !(n.nodeType === 1 && n.getAttribute("aria-hidden") === "true"))
    .map((n) => n.textContent).join("").trim();
  const candidates = {
    heading: () => document.querySelectorAll("h1, h2, h3, h4, h5, h6"),
    button: () => document.querySelectorAll("button"),
    link: () => document.querySelectorAll("a[href]"),
    field: () => [...document.querySelectorAll("label")].map((l) => l.control)
      .concat([...document.querySelectorAll("input, select, textarea")]),
  }[kind];
  if (!candidates) throw new Error(`no kind ${kind}`);
  const named = (e) => e && text(kind === "field" && !e.getAttribute("aria-label") ? e.labels[0] || e : e) === name;
  return [...candidates()].find((e) => named(e) && e.checkVisibility()) || null;
}

/// Waits for the element `kind` named `name` (see inPageFind) and returns it.
async function find(page, kind, name, timeout = 20_000) {
  try {
    const handle = await page.waitForFunction(inPageFind, { polling: 100, timeout }, kind, name);
    return handle.asElement();
  } catch (e) {
    throw new Error(`no ${kind} "${name}" on ${page.url()} within ${timeout} ms`, { cause: e });
  }
}

const click = async (page, kind, name) => (await find(page, kind, name)).click();
/// Fills the field labelled `label` (text, date and time, or the option of a select).
const fill = async (page, label, value) => (await find(page, "field", label)).asLocator().fill(value);

/// Waits until an element matching `selector` contains `text`.
async function textIn(page, selector, text, timeout = 20_000) {
  try {
    await page.waitForFunction((sel, want) => [...document.querySelectorAll(sel)].some((e) => e.textContent.includes(want)),
      { polling: 100, timeout }, selector, text);
  } catch (e) {
    throw new Error(`no "${text}" in ${selector} on ${page.url()} within ${timeout} ms`, { cause: e });
  }
}

/// Checks the page against WCAG 2.1 A and AA with axe-core (evaluated through BiDi, which the
/// page's Content-Security-Policy does not apply to), then saves a screenshot as
/// `<name>-firefox.png`.
async function shot(page, name, fullPage = true) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(inPageWcagViolations);
  assert.deepEqual(violations, [], `${name} in Firefox: WCAG 2.1 AA violations`);
  await page.screenshot({ path: path.join(SHOTS, `${name}-firefox.png`), fullPage });
}

/// Waits until the <video> matching `selector` plays: it has a picture (`videoWidth > 0`), and
/// both its position (`currentTime`) and the count of frames it presented advance (each wait
/// within `timeout` ms: a generous limit, not a measurement). Returns what it had at first.
///
/// Firefox counts no frames of a MediaStream in `getVideoPlaybackQuality()` (always 0 there):
/// the frames are counted with `requestVideoFrameCallback`, called once per frame presented.
async function videoPlays(page, selector, timeout = 20_000) {
  const until = async (what, done) => {
    const deadline = Date.now() + timeout;
    for (;;) {
      const now = await page.evaluate(inPageVideoProgress, selector);
      if (now && done(now)) return now;
      if (Date.now() > deadline) throw new Error(`waited ${timeout} ms for ${selector} ${what}: ${JSON.stringify(now)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const first = await until("to show a picture", (p) => p.width > 0 && p.presented > 0);
  await until("to play on", (p) => p.time > first.time && p.presented > first.presented);
  return first;
}

/// The codec and payload type of what the page's peer connections receive as video, for the
/// story's record (the SFU rewrites payload types per leg: Chromium's and Firefox's differ).
async function videoCodecsReceived(page) {
  return page.evaluate(async () => {
    const found = new Set();
    for (const pc of window.__peers || []) {
      const stats = [...(await pc.getStats()).values()];
      for (const r of stats) {
        if (r.type !== "inbound-rtp" || r.kind !== "video" || !r.codecId) continue;
        const codec = stats.find((c) => c.id === r.codecId);
        if (codec) found.add(`${codec.mimeType}/${codec.payloadType}`);
      }
    }
    return [...found].sort();
  });
}

async function clerkStory(browser) {
  console.log("story (Firefox): a clerk signs in with password and authenticator code, books a hearing and invites");
  const { context, page } = await newPage(browser);
  await page.goto(`${URL}/#/hearings`);
  await find(page, "heading", t("signin.title"));
  assert.equal(await page.evaluate(() => document.documentElement.lang), "en");
  await shot(page, "01-sign-in");
  step("a page that needs a session leads to sign-in, in English");

  await fill(page, t("signin.username"), env("ASSIZE_CLERK"));
  await fill(page, t("signin.password"), PASSWORD);
  await click(page, "button", t("signin.submit"));
  await find(page, "heading", t("enrol.title"));
  const secret = (await page.$eval("#totp-secret", (e) => e.textContent)).trim();
  await shot(page, "02-totp-enrolment");
  await fill(page, t("signin.code"), totp(secret));
  await click(page, "button", t("enrol.submit"));
  await find(page, "heading", t("hearings.title"));
  step("enrolled the authenticator and came back to the page asked for");

  await click(page, "link", t("hearings.book"));
  await fill(page, t("booking.case"), "TJ-BORDEAUX-2026-0099");
  await fill(page, t("booking.court"), "Tribunal judiciaire de Bordeaux");
  await fill(page, t("booking.title_field"), "Hearing of witness A");
  await fill(page, t("booking.when"), "2026-12-15T14:00");
  await click(page, "button", t("booking.add_participant"));
  await fill(page, t("booking.participant_label"), "Witness A");
  await shot(page, "04-booking");
  await click(page, "button", t("booking.submit"));
  await textIn(page, "h1", "TJ-BORDEAUX-2026-0099");
  const linkBox = await find(page, "field", t("invitations.link_for", { label: "Witness A" }));
  const link = await linkBox.evaluate((e) => e.value);
  assert.match(link, /^https:\/\/.+\/join#.{20,}$/, "the invitation link carries its token in the fragment");
  await click(page, "button", t("invitations.copy"));
  await find(page, "button", t("invitations.copied"));
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link, "the link is on the clipboard");
  step("booked the hearing; Witness A's single-use link is shown and copied");

  await fill(page, t("booking.participant_role"), "expert");
  await fill(page, t("booking.participant_label"), "Expert B");
  await click(page, "button", t("invitations.create"));
  await find(page, "field", t("invitations.link_for", { label: "Expert B" }));
  assert.equal(await page.$$eval("#invitations tbody tr", (rows) => rows.length), 2);
  step("created a second invitation from the hearing's page");

  await click(page, "button", t("hearing.verb.open"));
  await textIn(page, "#hearing-state", t("hearing_state.open"));
  await find(page, "button", t("hearing.verb.start"));
  await shot(page, "05-hearing");
  step("opened the hearing; the next legal step is offered");

  await click(page, "button", t("nav.sign_out"));
  await textIn(page, "main", t("signin.signed_out"));
  step("signed out");
  assert.deepEqual(page.problems, []);
  await context.close();
}

async function liveStory(firefox) {
  console.log("story (Firefox and Chromium): a witness in Firefox joins by invitation, passes the self-test and waits; " +
    "the judge in Chromium calls them; each sees the other's video over real WebRTC through the SFU");
  const chrome = await chromium.launchChromium();
  try {
    const judge = await chromium.newPage(chrome);
    await judge.context.grantPermissions(["camera", "microphone"]);
    await judge.page.goto(`${URL}/#/hearings/${env("ASSIZE_HEARING")}/room`);
    await chromium.signInWithPassword(judge.page, env("ASSIZE_JUDGE"));
    const console_ = judge.page.locator("#console");
    await console_.getByRole("heading", { name: t("console.title") }).waitFor();
    await judge.page.locator("#room-status").getByText(t("room.where.waiting_room")).waitFor();
    step("the judge (Chromium) is in the room's waiting room, with the console");

    const witness = await newPage(firefox);
    await witness.page.goto(env("ASSIZE_INVITE"));
    await find(witness.page, "heading", t("join.check_title"));
    assert.ok(!witness.page.url().includes("#"), "the token is taken out of the address bar");
    await textIn(witness.page, "#camera-check.ok", t("join.camera_ok"));
    await textIn(witness.page, "#mic-check.ok", t("join.mic_ok"));
    const own = await videoPlays(witness.page, "video.preview");
    // Firefox holds sound back until the user does something on the page (its default autoplay
    // policy, kept here): the meter moves once the invitee clicks.
    await (await find(witness.page, "heading", t("join.check_title"))).click();
    await witness.page.waitForFunction(() => document.getElementById("mic-level").dataset.heard === "1",
      { polling: 100, timeout: 20_000 });
    step(`the witness (Firefox) passes the self-test: the camera preview plays (${own.width} px wide) and the meter moves`);
    await shot(witness.page, "20-join-self-test");
    await click(witness.page, "button", t("join.continue"));
    await find(witness.page, "heading", t("join.waiting_title"));
    await textIn(witness.page, "#room-status", t("room.where.waiting_room"));
    const row = console_.locator("tr", { hasText: "Witness A" });
    await row.getByText(t("location.waiting_room")).waitFor();
    step("the witness waits; the judge's console lists them in the waiting room");

    await console_.getByRole("button", { name: t("console.enter") }).click();
    await judge.page.locator("#room-status").getByText(t("room.where.hearing_room")).waitFor();
    await console_.getByRole("button", { name: t("hearing.verb.start") }).click();
    await judge.page.getByText(t("console.state", { state: t("hearing_state.in_session") })).waitFor();
    await row.getByRole("button", { name: t("console.call") }).click();
    await row.getByText(t("location.hearing_room")).waitFor();
    step("the judge enters, starts the session and calls the witness");

    const tileText = t("room.tile", { name: "Witness A", role: t("role.witness") });
    const witnessTile = judge.page.locator("figure.tile", { hasText: tileText });
    await witnessTile.waitFor();
    const w = await witnessTile.locator("video").getAttribute("data-participant");
    let seen;
    try {
      seen = await chromium.videoPlays(judge.page, `video[data-participant="${w}"]`);
    } catch (e) {
      console.log(`the judge's page receives: ${JSON.stringify(await chromium.receiving(judge.page, `video[data-participant="${w}"]`))}`);
      throw e;
    }
    const judgeCodecs = await videoCodecsReceived(judge.page);
    step(`Chromium plays the witness's video from Firefox (${seen.width} px wide, frames advancing; received as ${judgeCodecs})`);

    await witness.page.waitForSelector("section.room[data-me]");
    const me = await witness.page.$eval("section.room", (e) => e.dataset.me);
    const other = `video[data-participant^="p"]:not([data-participant="p${me}"])`;
    let back;
    try {
      back = await videoPlays(witness.page, other);
    } catch (e) {
      console.log(`the witness's page receives: ${JSON.stringify(await witness.page.evaluate(inPageReceiving, other))}`);
      throw e;
    }
    const witnessCodecs = await videoCodecsReceived(witness.page);
    await textIn(witness.page, "#room-status", t("room.where.hearing_room"));
    await find(witness.page, "heading", t("location.hearing_room"));
    step(`Firefox plays the judge's video from Chromium (${back.width} px wide, frames and time advancing; ` +
      `received as ${witnessCodecs}); the witness knows they are in the hearing room`);
    assert.ok(judgeCodecs.length > 0 && witnessCodecs.length > 0, "both pages name the codec they receive");

    // Sound: the judge's video plays unmuted on the witness's page (their click on the page let
    // Firefox play sound), and each page receives the other's audio.
    assert.equal(await witness.page.$eval(other, (v) => v.muted), false, "the witness hears the judge");
    await witness.page.waitForFunction(inPageAudioPacketsReceived, { polling: 100, timeout: 20_000 });
    await judge.page.waitForFunction(inPageAudioPacketsReceived, null, { timeout: 20_000 });
    step("the judge's video plays with its sound on the witness's page; each page receives the other's audio");
    await shot(witness.page, "24-hearing-room-witness");

    assert.deepEqual(judge.page.problems, []);
    assert.deepEqual(witness.page.problems, []);
    await witness.context.close();
    await judge.context.close();
  } finally {
    await chrome.close();
  }
}

async function judgeStory(firefox) {
  console.log("story (Firefox and Chromium): the judge in Firefox runs the console and calls a witness whose page runs " +
    "in Chromium; each sees the other's video over real WebRTC through the SFU");
  const chrome = await chromium.launchChromium();
  try {
    const judge = await newPage(firefox);
    await judge.page.goto(`${URL}/#/hearings/${env("ASSIZE_HEARING")}/room`);
    await find(judge.page, "heading", t("signin.title"));
    await fill(judge.page, t("signin.username"), env("ASSIZE_JUDGE"));
    await fill(judge.page, t("signin.password"), PASSWORD);
    await click(judge.page, "button", t("signin.submit"));
    await find(judge.page, "heading", t("room.title"));
    await find(judge.page, "heading", t("console.title"));
    await textIn(judge.page, "#room-status", t("room.where.waiting_room"));
    step("the judge (Firefox) is in the room's waiting room, with the console");

    const witness = await chromium.newPage(chrome);
    await witness.context.grantPermissions(["camera", "microphone"]);
    await witness.page.goto(env("ASSIZE_INVITE"));
    await witness.page.getByRole("button", { name: t("join.continue") }).click();
    await witness.page.locator("#room-status").getByText(t("room.where.waiting_room")).waitFor();
    const row = "#console tbody tr";
    await textIn(judge.page, row, t("location.waiting_room"));
    step("the witness (Chromium) waits; the judge's console lists them in the waiting room");

    await click(judge.page, "button", t("console.enter"));
    await textIn(judge.page, "#room-status", t("room.where.hearing_room"));
    await click(judge.page, "button", t("hearing.verb.start"));
    await textIn(judge.page, "#console", t("console.state", { state: t("hearing_state.in_session") }));
    await click(judge.page, "button", t("console.call"));
    await textIn(judge.page, row, t("location.hearing_room"));
    step("the judge enters, starts the session and calls the witness from the console");

    const tileText = t("room.tile", { name: "Witness A", role: t("role.witness") });
    await textIn(judge.page, "figure.tile figcaption", tileText);
    const w = await judge.page.evaluate((text) => [...document.querySelectorAll("figure.tile")]
      .find((f) => f.textContent.includes(text)).querySelector("video").dataset.participant, tileText);
    const seen = await videoPlays(judge.page, `video[data-participant="${w}"]`);
    const judgeCodecs = await videoCodecsReceived(judge.page);
    step(`Firefox plays the witness's video from Chromium (${seen.width} px wide, frames and time advancing; ` +
      `received as ${judgeCodecs})`);

    await witness.page.locator("section.room[data-me]").waitFor();
    const me = await witness.page.locator("section.room").getAttribute("data-me");
    const back = await chromium.videoPlays(witness.page, `video[data-participant^="p"]:not([data-participant="p${me}"])`);
    const witnessCodecs = await videoCodecsReceived(witness.page);
    await witness.page.locator("#room-status").getByText(t("room.where.hearing_room")).waitFor();
    step(`Chromium plays the judge's video from Firefox (${back.width} px wide, frames advancing; received as ` +
      `${witnessCodecs}); the witness knows they are in the hearing room`);
    assert.ok(judgeCodecs.length > 0 && witnessCodecs.length > 0, "both pages name the codec they receive");
    await judge.page.waitForFunction(inPageAudioPacketsReceived, { polling: 100, timeout: 20_000 });
    await witness.page.waitForFunction(inPageAudioPacketsReceived, null, { timeout: 20_000 });
    step("each page receives the other's audio");
    await shot(judge.page, "23-hearing-room-judge");

    assert.deepEqual(judge.page.problems, []);
    assert.deepEqual(witness.page.problems, []);
    await witness.context.close();
    await judge.context.close();
  } finally {
    await chrome.close();
  }
}

/// `story`, explaining the Firefox pages when it fails.
const explained = (story) => async (browser) => {
  try {
    await story(browser);
  } catch (e) {
    await explain();
    throw e;
  }
};

await runStories({ clerk: explained(clerkStory), live: explained(liveStory), judge: explained(judgeStory) },
  launchFirefox);
