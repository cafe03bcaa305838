// Drives Debian's chromium (Playwright's client, no browser download) on the status page for
// tests/browser.rs. Usage: node drive.mjs PAGE_URL SHOTS_DIR
// It asks the Rust test to submit mail by printing `submit ADDRESS` and reads the message ID
// back on stdin; it prints `ok STEP` after each step and exits non-zero on the first failure.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const [url, shots] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function submit(address) {
  console.log(`submit ${address}`);
  const { value } = await lines.next();
  return value.trim();
}
async function submitHtml(address) {
  console.log(`submit-html ${address}`);
  const { value } = await lines.next();
  return value.trim();
}
function check(cond, what) {
  if (!cond) throw new Error(`failed: ${what}`);
}
const WAIT = { timeout: 20000 };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
try {
  // 400 px wide, and a time zone far from UTC to see local times.
  const context = await browser.newContext({
    viewport: { width: 400, height: 900 },
    timezoneId: "Asia/Tokyo",
  });
  const page = await context.newPage();
  page.on("dialog", (d) => d.accept());

  // 1. Live: a delivery shows up without reloading the page.
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.live === "on", null, WAIT);
  await page.evaluate(() => { window.stayed = true; });
  const delivered = await submit("you@a.test");
  await page.waitForFunction(
    (id) => [...document.querySelectorAll(".msg")].some(
      (m) => m.textContent.includes(id) && m.querySelector(".st.delivered")),
    delivered, WAIT);
  check(await page.evaluate(() => window.stayed === true), "the page was not reloaded");
  // The header's health line follows too: healthy, with the last delivery.
  await page.waitForFunction(() => {
    const h = document.getElementById("health").textContent;
    return h.startsWith("healthy spool writable") && h.includes("last delivery");
  }, null, WAIT);
  // The destination's chart of the last hour, drawn by the script as the change came in.
  await page.waitForSelector('svg.chart[aria-label^="last hour: 1 delivered"]', WAIT);
  check(await page.evaluate(() => document.documentElement.scrollWidth <= 400), "fits 400 px");
  // Local time (Tokyo, UTC+9) shown; UTC on hover.
  const shown = await page.evaluate(() => {
    const t = document.querySelector("time[datetime]");
    return { iso: t.getAttribute("datetime"), text: t.textContent, title: t.title };
  });
  const tokyo = new Date(Date.parse(shown.iso) + 9 * 3600 * 1000).toISOString()
    .replace("T", " ").slice(0, 19);
  check(shown.text === tokyo, `local time ${JSON.stringify(shown)} is ${tokyo}`);
  check(shown.title.endsWith(" UTC"), `UTC on hover ${shown.title}`);
  await page.screenshot({ path: `${shots}/status-page.png`, fullPage: true });
  console.log("ok live");

  // 2. Actions on a deferred message: Hold, Release, Retry (it then delivers).
  const deferred = await submit("tempfail@b.test");
  await page.goto(`${url}message/${deferred}`);
  await page.waitForSelector(".st.deferred", WAIT);
  check(await page.isHidden("button[data-action=release]"), "no Release before Hold");
  await page.click("button[data-action=hold]");
  await page.waitForSelector("button[data-action=release]", WAIT);
  check(await page.isHidden("button[data-action=hold]"), "no Hold once held");
  console.log("ok hold");
  await page.click("button[data-action=release]");
  await page.waitForSelector("button[data-action=hold]", WAIT);
  console.log("ok release");
  await page.screenshot({ path: `${shots}/status-message.png`, fullPage: true });
  await page.click("button[data-action=retry]");
  await page.waitForSelector(".st.delivered", WAIT);
  console.log("ok retry");

  // 3. Delete: the message is gone, and its page says so.
  const doomed = await submit("tempfail@c.test");
  await page.goto(`${url}message/${doomed}`);
  await page.waitForSelector(".st.deferred", WAIT);
  await Promise.all([page.waitForURL(url, WAIT), page.click("button[data-action=delete]")]);
  await page.goto(`${url}message/${doomed}`);
  check((await page.textContent("h2")).includes(`No message ${doomed}`), "a gone message's page");
  console.log("ok delete");

  // 4. Search: by domain from the box, then a state filter; the page stays live.
  await page.goto(url);
  await page.fill("input[name=q]", "b.test");
  await Promise.all([page.waitForURL(/q=b.test/, WAIT), page.press("input[name=q]", "Enter")]);
  await page.waitForFunction(() => document.body.dataset.live === "on", null, WAIT);
  const cards = await page.$$eval(".msg", (ms) => ms.map((m) => m.textContent));
  check(cards.length === 1 && cards[0].includes(deferred), `found by domain: ${cards}`);
  check((await page.textContent("#found")) === "1", "one found");
  await page.fill("input[name=q]", "");
  await page.selectOption("select[name=state]", "delivered");
  await Promise.all([page.waitForURL(/state=delivered/, WAIT), page.click("#find button")]);
  const both = await page.$$eval(".msg", (ms) => ms.map((m) => m.textContent).join(" "));
  check(both.includes(delivered) && both.includes(deferred), `delivered ones: ${both}`);
  console.log("ok search");

  // 5. A message's content: its text, its HTML in a sandboxed frame where no script runs and
  // nothing remote loads, its attachments.
  const remote = [];
  // Chromium reports the image's request, refused by the frame's policy before it is sent.
  page.on("requestfailed", (r) => {
    if (r.url().includes("remote.png")) remote.push(r.failure().errorText);
  });
  page.on("response", (r) => { if (r.url().includes("remote.png")) remote.push("loaded"); });
  const rich = await submitHtml("tempfail@d.test");
  await page.goto(`${url}message/${rich}`);
  await page.waitForSelector("pre.body", WAIT);
  check((await page.textContent("pre.body")).includes("Grüße from the text part"), "the text body");
  check((await page.getAttribute("iframe.html", "sandbox")) === "", "sandboxed, no allow-scripts");
  await page.frameLocator("iframe.html").locator("b", { hasText: "HTML" }).waitFor(WAIT);
  const framed = page.frames().find((f) => f.url().endsWith("/body.html"));
  const ran = await framed.evaluate(() => document.body.dataset.ran || "no");
  check(ran === "no", "the HTML body's script did not run");
  const img = await framed.evaluate(() => document.querySelector("img").naturalWidth);
  check(img === 0 && remote.length > 0 && remote.includes("csp") && !remote.includes("loaded"),
    `nothing remote loaded: ${remote}`);
  const files = await page.$$eval("table.attachments tr", (rs) => rs.map((r) => r.textContent));
  check(files.length === 1 && files[0] === "report.pdfapplication/pdf9 bytes", `attachments ${files}`);
  await page.screenshot({ path: `${shots}/status-content.png`, fullPage: true });
  console.log("ok content");

  // 6. Pause a destination: its state says so and its mail waits until it is resumed.
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.live === "on", null, WAIT);
  await page.click('button[data-action=pause-dest][data-dest="a.test"]');
  await page.waitForSelector('button[data-action=resume-dest][data-dest="a.test"]', WAIT);
  const dest = () => page.$eval('button[data-dest="a.test"]', (b) => b.closest(".dest").textContent);
  check((await dest()).includes("paused from the status page until resumed"), "the paused state");
  const waits = await submit("later@a.test");
  await page.waitForFunction(
    (id) => [...document.querySelectorAll(".msg")].some((m) => m.textContent.includes(id) &&
      m.textContent.includes("a.test is paused from the status page")), waits, WAIT);
  await page.screenshot({ path: `${shots}/status-paused.png`, fullPage: true });
  await page.click('button[data-action=resume-dest][data-dest="a.test"]');
  await page.waitForFunction(
    (id) => [...document.querySelectorAll(".msg")].some((m) => m.textContent.includes(id) &&
      m.querySelector(".st.delivered")), waits, WAIT);
  check((await dest()).includes("open"), "open again");
  console.log("ok pause");

  // 7. A TLS requirement not met (e.test: tls_policy = encrypt, the server offers no
  // STARTTLS): the message page says whose requirement, which server and what failed, and
  // its timeline marks the failing step in the delivery log's words.
  const unmet = await submit("x@e.test");
  await page.goto(`${url}message/${unmet}`);
  await page.waitForFunction(() => document.body.textContent.includes("did not give it"), null, WAIT);
  const said = await page.textContent("body");
  for (const words of [
    "This server's settings require, for mail to e.test, an encrypted connection (tls_policy = encrypt); its mail server",
    "the server does not offer STARTTLS, which is required for this server",
    "not sent: required an encrypted connection (tls_policy = encrypt)",
  ]) {
    check(said.includes(words), `the page says: ${words}`);
  }
  await page.screenshot({ path: `${shots}/status-tls-unmet.png`, fullPage: true });
  console.log("ok tls");
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
process.exit(process.exitCode || 0);
