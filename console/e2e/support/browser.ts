// Debian's Chromium: the suite never downloads a browser (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 at install).
export const chromiumPath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
