// Puppeteer comes in as the Mermaid CLI's peer (a devDependency; test/int/mermaid-cli.int.test.ts) and drives Debian's
// Chromium (.ci/run installs it; CHROMIUM_BIN overrides, as in test/helpers/browser.ts). It never downloads a browser
// of its own: on a closed plant network the download is refused, and its postinstall would then fail `npm ci`.
module.exports = {
  executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
  skipDownload: true,
};
