// Opens the status page in headless Chromium (Debian's, driven by playwright-core), reads its
// figures twice, SECONDS apart, with a screenshot each time, and prints them as JSON.
// usage: node status-page.js URL SECONDS SHOT_BEFORE SHOT_AFTER
const { launch } = require("./chromium");

async function figures(page) {
  return page.$$eval("[data-figure]", (els) => Object.fromEntries(els.map((e) => [e.dataset.figure, e.textContent])));
}

(async () => {
  const [url, seconds, before, after] = process.argv.slice(2);
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 640 } });
    const failed = [];
    page.on("requestfailed", (r) => failed.push(r.url()));
    await page.goto(url);
    await page.waitForFunction(() => Number(document.getElementById("updates").textContent) >= 2);
    const first = await figures(page);
    await page.screenshot({ path: before });
    await page.waitForTimeout(Number(seconds) * 1000);
    const second = await figures(page);
    await page.screenshot({ path: after });
    console.log(JSON.stringify({ before: first, after: second, failed }));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
