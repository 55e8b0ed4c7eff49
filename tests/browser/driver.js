// A thin bridge from the Python test to a real browser: Debian's chromium driven by
// puppeteer-core. Reads one JSON command per line on stdin, answers one JSON line on stdout:
//   {"id":1,"op":"open","page":"a","url":"http://…","auth":{"username":…,"password":…}}
//   -> {"id":1,"ok":true,"result":…}   or   {"id":1,"ok":false,"error":"…"}
// Ops: open, wait (selector, optional text, timeout_ms), click (selector), eval (expression,
// its JSON-able value is the result), screenshot (path, full_page), offline (offline: true or
// false; the page's network, as DevTools emulates it), console (the page's console errors and
// failed requests so far), close (the browser; the process then exits).
// Everything the test asserts is decided in Python; this file only acts and reports.
'use strict';

const readline = require('node:readline');
const puppeteer = require('puppeteer-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = [
  // Tests run as root (no sandbox there); no GPU; no phoning home (the machine's network is
  // closed, and Chromium would retry its background connections throughout the test).
  '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic',
  '--disable-features=Translate,MediaRouter,OptimizationHints',
  '--autoplay-policy=no-user-gesture-required',
];

let browser = null;
const pages = new Map();  // name -> {page, log: []}

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function page(name) {
  const p = pages.get(name);
  if (!p) throw new Error(`no page named ${name}`);
  return p;
}

const ops = {
  async open({page: name, url, auth, width, height}) {
    if (!browser) {
      // SIGTERM/SIGINT/SIGHUP to this process close the browser too (puppeteer's default).
      browser = await puppeteer.launch({executablePath: CHROMIUM, headless: true, args: ARGS});
    }
    const p = await browser.newPage();
    const log = [];
    p.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warn') log.push(`console.${m.type()}: ${m.text()}`); });
    p.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
    p.on('requestfailed', (r) => {
      // An EventSource closed by navigation or test end is not a failure of the page.
      if (!r.url().includes('/api/v1/events')) log.push(`requestfailed: ${r.url()} ${r.failure() && r.failure().errorText}`);
    });
    if (auth) await p.authenticate(auth);
    await p.setViewport({width: width || 1280, height: height || 900});
    pages.set(name, {page: p, log});
    const res = await p.goto(url, {waitUntil: 'domcontentloaded'});
    // The browser's pid, so the test can make sure it is gone even if this process is killed.
    return {status: res ? res.status() : null, browser_pid: browser.process().pid};
  },
  async wait({page: name, selector, text, timeout_ms}) {
    const {page: p} = await page(name);
    const fn = (sel, txt) => {
      for (const e of document.querySelectorAll(sel)) {
        if (txt == null || e.textContent.includes(txt)) return true;
      }
      return false;
    };
    await p.waitForFunction(fn, {timeout: timeout_ms || 10000, polling: 50}, selector, text == null ? null : text);
    return true;
  },
  async click({page: name, selector}) {
    const {page: p} = await page(name);
    await p.bringToFront();  // input goes to the page in front
    await p.click(selector);
    return true;
  },
  async eval({page: name, expression}) {
    const {page: p} = await page(name);
    return p.evaluate(expression);
  },
  async screenshot({page: name, path, full_page}) {
    const {page: p} = await page(name);
    await p.bringToFront();
    await p.screenshot({path, fullPage: !!full_page});
    return path;
  },
  async offline({page: name, offline}) {
    const {page: p} = await page(name);
    await p.setOfflineMode(!!offline);
    return true;
  },
  async console({page: name}) {
    return (await page(name)).log.slice();
  },
  async close() {
    if (browser) await browser.close();
    browser = null;
    return true;
  },
};

const rl = readline.createInterface({input: process.stdin});
let chain = Promise.resolve();
rl.on('line', (line) => {
  // One command at a time, in order.
  chain = chain.then(async () => {
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch (e) {
      reply({id: null, ok: false, error: `bad command: ${e.message}`});
      return;
    }
    try {
      const fn = ops[cmd.op];
      if (!fn) throw new Error(`unknown op ${cmd.op}`);
      reply({id: cmd.id, ok: true, result: await fn(cmd)});
    } catch (e) {
      reply({id: cmd.id, ok: false, error: String(e && e.message || e)});
    }
    if (cmd.op === 'close') process.exit(0);
  });
});
rl.on('close', () => {
  chain.then(async () => { if (browser) await browser.close(); process.exit(0); });
});
