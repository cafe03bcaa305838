// Drives Debian's chromium on the status page's bulk buttons for tests/browser.rs.
// Usage: node bulk.mjs PAGE_URL SHOTS_DIR SLOW_ID SLOW_ID STAY_ID DOOMED_ID
// Holds every message a destination filter finds, then deletes what a search finds, checking
// the question asked each time; prints `ok STEP` after each step, exits non-zero on failure.
import { chromium } from "playwright-core";

const [url, shots, slow1, slow2, stay, doomed] = process.argv.slice(2);
function check(cond, what) {
  if (!cond) throw new Error(`failed: ${what}`);
}
const WAIT = { timeout: 20000 };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
try {
  const page = await (await browser.newContext({ viewport: { width: 400, height: 900 } })).newPage();
  const asked = [];
  page.on("dialog", (d) => { asked.push(d.message()); d.accept(); });
  const cards = (ids) => page.evaluate((ids) => ids.map((id) =>
    [...document.querySelectorAll(".msg")].find((m) => m.textContent.includes(id))
      ?.querySelector(".st")?.textContent ?? "gone"), ids);

  // 1. Hold what the destination filter finds: both slow.test messages, nothing else.
  await page.goto(`${url}?dest=slow.test`);
  await page.waitForSelector("#bulk button[data-bulk=hold]", WAIT);
  check((await page.textContent("#bulk")).includes("this search finds"), "the block says what it takes");
  await Promise.all([page.waitForEvent("load", WAIT), page.click("#bulk button[data-bulk=hold]")]);
  check(asked[0] === "Hold 2 message(s)?", `asked ${asked[0]}`);
  await page.waitForFunction(() => {
    const shown = [...document.querySelectorAll(".msg")];
    return shown.length === 2 && shown.every((m) => m.querySelector(".st.held"));
  }, null, WAIT);
  await page.screenshot({ path: `${shots}/status-bulk.png`, fullPage: true });
  console.log("ok hold");

  // 2. Delete what a search finds: one message, after saying it cannot be undone.
  await page.goto(`${url}?q=doomed.test`);
  await page.waitForSelector(`.msg >> text=${doomed}`, WAIT);
  await Promise.all([page.waitForEvent("load", WAIT), page.click("#bulk button[data-bulk=delete]")]);
  check(asked[1] === "Delete 1 message(s)? This cannot be undone.", `asked ${asked[1]}`);
  await page.goto(url);
  await page.waitForSelector(`.msg >> text=${stay}`, WAIT);
  const states = await cards([slow1, slow2, stay, doomed]);
  check(states[0] === "held" && states[1] === "held" && states[3] === "gone" && states[2] !== "held",
    `states ${states}`);
  console.log("ok delete");
} finally {
  await browser.close();
}
