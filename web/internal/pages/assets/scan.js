// wxoidc scan page: waits for the person to confirm on their phone.
// Plain ES2017, no libraries. Everything it needs comes from data-* on
// #scan (the page's CSP allows no inline script); the JSON it speaks is
// documented on pages.ScanPage.
'use strict';
(() => {
  const root = document.getElementById('scan');
  if (!root || !window.fetch || !window.AbortController) return;
  const d = root.dataset;
  const img = root.querySelector('.qr-img');
  const mark = root.querySelector('.qr-mark');
  const cover = root.querySelector('.qr-cover');
  const line = root.querySelector('.scan-status');
  const renew = root.querySelector('.scan-renew');
  let urls = { status: d.statusUrl, cont: d.continueUrl, renew: d.renewUrl };
  // gen names the running wait loop: a loop whose gen is no longer current
  // stops, so a refresh or a timeout never leaves two loops running.
  let gen = 0;
  let ctrl = null;
  let timer = 0;
  let state = 'pending';
  let renewing = false;

  const text = (s) => d['t' + s.charAt(0).toUpperCase() + s.slice(1)];
  const pause = (ms) => new Promise((done) => setTimeout(done, ms));

  function show(s) {
    state = s;
    root.dataset.state = s;
    line.textContent = text(s);
    const dead = s === 'expired' || s === 'denied';
    cover.hidden = !dead;
    cover.setAttribute('aria-label', s === 'denied' ? d.tRetry : d.tClick);
    mark.hidden = s !== 'scanned' && s !== 'approved';
    renew.hidden = s === 'approved';
    renew.textContent = s === 'denied' ? d.tRetry : d.tRefresh;
  }

  // halt ends the current loop and its expiry timer.
  function halt() {
    gen++;
    if (ctrl) ctrl.abort();
    clearTimeout(timer);
  }

  function stop(s) {
    halt();
    show(s);
  }

  function start(expiresIn) {
    halt();
    const g = gen;
    ctrl = new AbortController();
    show('pending');
    // The client's clock as a backstop, should the server never say expired.
    if (expiresIn > 0) timer = setTimeout(() => { if (g === gen) stop('expired'); }, expiresIn * 1000);
    wait(g, ctrl.signal);
  }

  async function wait(g, signal) {
    let fails = 0;
    while (g === gen) {
      let body = null;
      try {
        const u = urls.status + (urls.status.includes('?') ? '&' : '?') + 'wait=25';
        const res = await fetch(u, { credentials: 'same-origin', cache: 'no-store', signal });
        if (g !== gen) return;
        if (res.ok) {
          body = await res.json();
        } else if (res.status !== 429 && res.status < 500) {
          stop('expired'); // 404: the ticket is gone; any other 4xx will not heal
          return;
        }
      } catch (e) {
        // A network failure or a broken answer: counted below.
      }
      if (g !== gen) return;
      const s = body && body.status;
      if (s === 'approved') {
        halt();
        show('approved');
        location.assign(body.continue_url || urls.cont);
        return;
      }
      if (s === 'denied' || s === 'expired') {
        stop(s);
        return;
      }
      if (s === 'pending' || s === 'scanned') {
        fails = 0;
        if (s !== state) show(s);
        continue;
      }
      fails++;
      if (fails >= 3 && state !== 'error') show('error');
      await pause(Math.min(1000 * 2 ** (fails - 1), 10000));
    }
  }

  async function refresh(ev) {
    ev.preventDefault();
    if (renewing) return;
    renewing = true;
    halt();
    const fallback = urls.renew;
    try {
      const res = await fetch(urls.renew, { headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' });
      if (!res.ok) throw new Error('renew: HTTP ' + res.status);
      const t = await res.json();
      if (!t.image_url || !t.status_url || !t.continue_url || !t.renew_url) throw new Error('renew: incomplete answer');
      img.src = t.image_url;
      urls = { status: t.status_url, cont: t.continue_url, renew: t.renew_url };
      cover.href = renew.href = t.renew_url;
      start(Number(t.expires_in) || 0);
    } catch (e) {
      // The ordinary link: a fresh page, or the server's page saying why not.
      location.assign(fallback);
    } finally {
      renewing = false;
    }
  }

  cover.addEventListener('click', refresh);
  renew.addEventListener('click', refresh);
  start(Number(d.expiresIn) || 0);
})();
