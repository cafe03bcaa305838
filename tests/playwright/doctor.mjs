// Drives Debian's chromium (Playwright's client, no browser download) on the status page's
// doctor view for tests/doctor.rs. Usage: node doctor.mjs DOCTOR_PAGE_URL
// Clicks "Check again" and waits for the report; prints `ok STEP` after each step and exits
// non-zero on the first failure.
import { chromium } from "playwright-core";

const [url] = process.argv.slice(2);
function check(cond, what) {
  if (!cond) throw new Error(`failed: ${what}`);
}
const WAIT = { timeout: 30000 };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
try {
  const page = await browser.newPage();
  await page.goto(url);
  check((await page.textContent("#doctor")).includes("No check yet"), "no report at first");
  console.log("ok empty");
  // The click POSTs with the page's token and reloads; the page follows the running check
  // and shows the report when it is done.
  await page.click("button[data-action=doctor]");
  await page.waitForSelector("table.doctor", WAIT);
  await page.waitForSelector("#doctor[data-running='0']", WAIT);
  const text = await page.textContent("#doctor");
  check(text.includes("0 problem(s), 0 warning(s)"), `the report: ${text}`);
  const verdicts = await page.$$eval("table.doctor .badge", (bs) => bs.map((b) => b.textContent));
  check(verdicts.length === 9 && verdicts.every((v) => v === "ok"), `verdicts: ${verdicts}`);
  check(!(await page.isDisabled("button[data-action=doctor]")), "check again is enabled");
  console.log("ok report");
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
process.exit(process.exitCode || 0);
