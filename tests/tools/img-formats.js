// Loads a page of <img> tags in headless Chromium (Debian's, driven by playwright-core) and
// prints, as JSON, what the browser fetched for each image (status, Content-Type, Vary, the
// Accept it sent) and whether each <img> decoded (naturalWidth / naturalHeight), plus a screenshot.
// usage: node img-formats.js PAGE_URL SHOT
const { launch } = require("./chromium");

(async () => {
  const [url, shot] = process.argv.slice(2);
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 500 } });
    const fetched = [];
    page.on("response", async (r) => {
      if (r.request().resourceType() !== "image") return;
      fetched.push({
        url: r.url(),
        status: r.status(),
        contentType: r.headers()["content-type"] || null,
        vary: r.headers()["vary"] || null,
        accept: (await r.request().allHeaders())["accept"] || null,
      });
    });
    await page.goto(url, { waitUntil: "load" });
    const images = await page.$$eval("img", (els) =>
      els.map((e) => ({ src: e.src, complete: e.complete, width: e.naturalWidth, height: e.naturalHeight })));
    await page.screenshot({ path: shot });
    console.log(JSON.stringify({ fetched, images }));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
